"""`conprune stage` and the sweep build a run's command line with one builder: overlays that exist,
--run_dir, the data arguments, resume from last.ckpt, a DONE stamp, and a stamped run is skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conprune.cli import main
from conprune.commands.run_steps import RunSettings, Step, config_files, fit_step, run_in_order
from conprune.errors import ConpruneError


def test_profile_overlays_only_where_the_profile_has_one() -> None:
    assert config_files(["prune.yaml", "{profile}/prune.yaml"], "quick") == [
        "--config", "experiments/prune.yaml", "--config", "experiments/quick/prune.yaml"]
    assert config_files(["prune.yaml", "{profile}/prune.yaml"], "full") == ["--config", "experiments/prune.yaml"]
    assert config_files(["teacher.yaml", "{profile}/teacher.yaml"], "long")[-1] == "experiments/long/teacher.yaml"


def test_fit_step_resumes_a_killed_run(tmp_path: Path) -> None:
    settings = RunSettings("corpus", 40, "quick", ("--data.cmvn", "c.json"))
    step = fit_step(tmp_path / "run", ["finetune.yaml", "{profile}/finetune.yaml"], settings, 2, ["--x", "1"])
    argv = step.argv[3:]
    assert step.done == tmp_path / "run" / "DONE" and argv[0] == "fit" and "--ckpt_path" not in argv
    assert argv[argv.index("--run_dir") + 1] == str(tmp_path / "run")
    assert argv[argv.index("--seed_everything") + 1] == "2" and argv[argv.index("--data.num_pieces") + 1] == "40"
    assert argv.index("--data.cmvn") < argv.index("--x")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.ckpt").write_bytes(b"")
    resumed = fit_step(tmp_path / "run", ["finetune.yaml"], settings).argv
    assert resumed[-2:] == ["--ckpt_path", str(tmp_path / "run" / "checkpoints" / "last.ckpt")]
    assert "--seed_everything" not in resumed  # None: the config's seed


def test_steps_are_stamped_skipped_and_a_failure_stops(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    script = f"open({str(log)!r}, 'a').write('ran\\n')"
    fit = Step([sys.executable, "-c", script], tmp_path / "DONE")
    run_in_order([fit, fit])
    assert log.read_text() == "ran\n" and (tmp_path / "DONE").read_text().startswith("fit wall time:")
    run_in_order([fit])
    assert log.read_text() == "ran\n"  # done: skipped
    with pytest.raises(ConpruneError, match="stage x stopped: this command failed"):
        run_in_order([Step([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "other" / "DONE")],
                     what="stage x")


def test_stage_verb_prints_the_same_command(tmp_path: Path, capsys) -> None:
    main(["stage", str(tmp_path / "prune"), "prune.yaml", "{profile}/prune.yaml", "prune_macs.yaml", "--profile",
          "quick", "--data", "d", "--pieces", "64", "--fit-args", "--model.init_args.teacher_ckpt 'T 1.pt'",
          "--dry-run"])
    printed = capsys.readouterr().out.split()
    assert printed[3:10] == ["fit", "--config", "experiments/prune.yaml", "--config", "experiments/quick/prune.yaml",
                             "--config", "experiments/prune_macs.yaml"]
    assert printed[-2:] == ["T", "1.pt"] and "--run_dir" in printed  # the quoted path stays one argument
    main(["stage", str(tmp_path / "test"), "teacher.yaml", "--test", "--fit-args", "--ckpt_path b.ckpt", "--dry-run"])
    tested = capsys.readouterr().out.split()
    assert tested[3] == "test" and "--run_dir" not in tested and tested[-2:] == ["--ckpt_path", "b.ckpt"]
