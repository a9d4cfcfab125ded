"""`conprune report`: runs discovered (demo mapping + sweep), rows right, plots written, W&B offline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conprune.errors import ConpruneError
from conprune.report.runs import DEMO_RUNS, discover_runs, parse_run_name, refs_from_specs

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")


def results(params: int, wer: float, heads: list[int]) -> dict:
    """A results.json as `conprune evaluate` writes it, reduced to what the report reads."""
    kept = [{"layer": i, "heads": h, "heads_dense": 4, "ffn1": 8 * h, "ffn1_dense": 32, "ffn2": 16,
             "ffn2_dense": 32, "conv": 12, "conv_dense": 16} for i, h in enumerate(heads)]
    return {"wer": {s: wer + 0.01 * i for i, s in enumerate(SPLITS)}, "params": params,
            "macs_per_utterance": 3 * params, "kept": kept}


def write(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """runs/ with a teacher, the demo's conprune student, a three-run sweep (one misnamed), a prune
    CSV log; a corpus with manifests (the WER word weights) and a bench file."""
    runs = tmp_path / "runs"
    write(runs / "teacher/results.json", results(4_000_000, 0.20, [4, 4]))
    write(runs / "finetune/results.json", results(2_000_000, 0.22, [4, 1]))
    write(runs / "sweep/magnitude_uniform-params30/results.json", results(2_800_000, 0.25, [3, 3]))
    write(runs / "sweep/dense-kd-params30/results.json", results(2_800_000, 0.30, [4, 4]))
    write(runs / "sweep/oops/results.json", results(1, 0.9, [1, 1]))
    log_dir = runs / "prune/csv/version_0"
    log_dir.mkdir(parents=True)
    (log_dir / "metrics.csv").write_text(
        "epoch,lagrangian/lambda1,lagrangian/lambda2,sparsity/expected,sparsity/target,step,train/loss,val/wer\n"
        "0,0.1,50,0.05,0.1,9,2.0,\n0,,,,,9,,0.5\n0,0.3,50,0.2,0.2,19,1.5,\n,,,,,20,,\n")
    for i, split in enumerate(SPLITS):
        rows = [{"id": f"{split}-{j}", "text": "A B C" if j else "A", "path": "x.flac", "num_samples": 16000,
                 "sample_rate": 16000, "speaker": "1"} for j in range(2 + i)]
        write(tmp_path / "data/manifests" / f"{split}.jsonl", {}).write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    write(tmp_path / "bench.json", {"latency_ratio_params50": 0.6})
    return tmp_path


def test_run_names_parse():
    assert parse_run_name("dense-kd-params30") == ("dense_kd", "params30", 0)
    assert parse_run_name("conprune-macs50") == ("conprune", "macs50", 0)
    assert parse_run_name("magnitude_uniform-params70-s2") == ("magnitude_uniform", "params70", 2)
    assert parse_run_name("prune") is None
    with pytest.raises(ConpruneError, match="METHOD:TARGET"):
        refs_from_specs(["/nowhere/prune/results.json"])
    assert refs_from_specs(["random:params50=x/results.json"])[0].method == "random"


def test_discovery_skips_missing_runs(tree: Path, caplog):
    caplog.set_level(logging.INFO)
    refs = discover_runs(tree / "runs", [f"conprune:params50={tree}/runs/sweep/magnitude_uniform-params30/results.json"])
    assert [(r.method, r.target) for r in refs] == [("teacher", "none"), ("conprune", "params50"),
                                                    ("dense_kd", "params30"), ("magnitude_uniform", "params30")]
    assert refs[1].path.parent.name == "magnitude_uniform-params30"  # a later spec replaces the demo's run
    assert "prune-macs" in caplog.text and "no results yet" in caplog.text
    assert "oops" in caplog.text
    only_demo = discover_runs(tree / "runs", sweep=False)
    assert len(only_demo) == 2 and len(DEMO_RUNS) == 3


def test_table_rows(tree: Path):
    from conprune.report.report import collect, markdown_table

    rows = collect(tree / "runs", [], tree / "data", tree / "bench.json")
    table = markdown_table(rows).splitlines()
    assert len(table) == 2 + 4
    # Word-weighted: dev-clean 2 rows (1 + 3 words), dev-other 3 rows (7 words), test 10 and 13 words.
    dev, test = (0.20 * 4 + 0.21 * 7) / 11, (0.22 * 10 + 0.23 * 13) / 23
    assert table[2] == (f"| teacher | none | 4.00 M | 1.00 | 0.01 G | 1.00 | {100 * dev:.1f} % | {100 * test:.1f} % "
                        f"| – | – | – | teacher |")
    assert table[3].startswith("| dense_kd | params30 | 2.80 M | 0.70 |")  # the dense baselines come first
    assert table[4] == (f"| magnitude_uniform | params30 | 2.80 M | 0.70 | 0.01 G | – | {100 * (dev + 0.05):.1f} % "
                        f"| {100 * (test + 0.05):.1f} % | – | – | 0 | sweep/magnitude_uniform-params30 |")
    assert table[5].startswith("| conprune | params50 | 2.00 M | 0.50 | 0.01 G | 0.60 |")


def test_report_writes_plots_markdown_and_readme(tree: Path):
    from conprune.report.readme_block import regenerate
    from conprune.report.report import PLOTS, collect, collect_curves, kept_maps, training_steps, write_report

    rows = collect(tree / "runs", [], tree / "data", tree / "bench.json")
    curves = collect_curves(tree / "runs")
    assert list(curves) == ["prune"] and curves["prune"]["lagrangian/lambda1"] == [(9, 0.1), (19, 0.3)]
    assert list(kept_maps(rows)) == ["conprune params50", "magnitude_uniform params30"]
    assert training_steps(tree / "runs") == {"prune": 20}
    readme = tree / "README.md"
    readme.write_text("# x\n<!-- report:begin -->\nold\n<!-- report:end -->\ntail\n")
    images = write_report(rows, curves, {"prune": 20}, tree / "results/demo")
    for name, file in PLOTS.items():
        assert images[name] == tree / "results/demo" / file
        assert images[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tree / "results/demo/summary.json").read_text())
    assert [r["method"] for r in summary] == [r["method"] for r in rows] and "kept" not in summary[0]
    assert readme.read_text().count("old") == 1  # the stages never touch the README
    assert regenerate(readme, ["report", "bench"], tree / "runs", tree / "results/demo",
                      tree / "missing.json") == ["report"]
    text = readme.read_text()
    assert "old" not in text and "| conprune | params50 |" in text and text.endswith("tail\n")
    assert "![test WER vs parameters, all methods](results/demo/pareto_wer_params.png)" in text
    report = (tree / "results/demo/report.md").read_text()
    assert "20 steps: 1 run (prune)" in report and "(kept_per_layer.png)" in report


def test_cli_report_logs_to_wandb_offline(tree: Path, monkeypatch):
    from conprune.cli import main

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tree)
    main(["report", "--runs", "runs", "--data", "data", "--bench", "bench.json", "--out", "out"])
    assert (tree / "out/report.md").is_file()
    run_dirs = list((tree / "runs/report/wandb").glob("offline-run-*"))
    assert len(run_dirs) == 1
    media = {p.name.split("_")[0] for p in (run_dirs[0] / "files/media/images/report").iterdir()}
    assert media == {"pareto", "latency", "curves", "kept"}


def test_wandb_disabled_logs_nothing(tmp_path: Path, monkeypatch):
    from conprune.report.wandb_tables import log_report

    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert log_report([], {}, {}, tmp_path / "wb") is None
    assert not (tmp_path / "wb").exists()


def test_report_with_no_runs_writes_nothing(tmp_path: Path):
    from conprune.cli import main

    main(["report", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-wandb"])
    assert not (tmp_path / "out").exists()


def test_resumed_run_log_and_steps(tmp_path) -> None:
    """A run resumed from its step-4 checkpoint after a crash at step 6: the merged log keeps the
    first part up to step 4 and all of the second, and counts optimizer steps, not LR-monitor rows."""
    from conprune.report.logs import fit_wall_seconds, merged_log, trained_steps

    run = tmp_path / "run"
    for version, text in ((0, "step,train/loss\n" + "".join(f"{s},{s}.0\n" for s in range(7))),
                          (1, "step,train/loss,val/wer\n" + "".join(f"{s},{s}.5,\n" for s in range(4, 10))
                           + "9,,0.3\n10,,\n")):
        (run / f"csv/version_{version}").mkdir(parents=True)
        (run / f"csv/version_{version}/metrics.csv").write_text(text)
    lines = merged_log(run).splitlines()
    assert lines[0] == "step,train/loss,val/wer"
    assert [line.split(",")[:2] for line in lines[1:6]] == [[str(s), f"{s}.0"] for s in range(4)] + [["4", "4.5"]]
    assert len(lines) == 1 + 4 + 8 and trained_steps(run) == 10
    assert fit_wall_seconds(run) is None
    (run / "DONE").write_text("fit wall time: 4786 s\n")
    assert fit_wall_seconds(run) == 4786.0


def test_only_the_timed_shapes_carry_the_bench_latency(tmp_path: Path):
    """The bench times conprune's student; a same-shape baseline shares that shape and its ratio, a
    baseline that chose its own allocation (uniform, global, dense) has another and gets none."""
    from conprune.report.runs import RunRef
    from conprune.report.summary import summary_rows

    words = {"dev-clean": 1, "dev-other": 1, "test-clean": 1, "test-other": 1}
    refs = []
    for method, target in (("teacher", "none"), ("conprune", "params50"), ("magnitude_shapes", "params50"),
                           ("magnitude_uniform", "params50"), ("dense_kd", "params50"), ("conprune", "params70")):
        refs.append(RunRef(method, target, write(tmp_path / f"{method}-{target}.json", results(1000, 0.2, [1, 1]))))
    latency = {(r["method"], r["target"]): r["latency_ratio"]
               for r in summary_rows(refs, words, {"latency_ratio_params50": 0.6})}
    assert latency == {("teacher", "none"): 1.0, ("conprune", "params50"): 0.6, ("magnitude_shapes", "params50"): 0.6,
                       ("magnitude_uniform", "params50"): None, ("dense_kd", "params50"): None,
                       ("conprune", "params70"): None}


def test_training_steps_counts_a_sweep_run_once_its_fit_finished(tree: Path):
    from conprune.report.report import training_steps

    log = (tree / "runs/prune/csv/version_0/metrics.csv").read_text()
    for name in ("sweep/prune-params50", "sweep/prune-params70"):
        (tree / "runs" / name / "csv/version_0").mkdir(parents=True)
        (tree / "runs" / name / "csv/version_0/metrics.csv").write_text(log)
    (tree / "runs/sweep/prune-params50/DONE").write_text("fit wall time: 12 s\n")
    assert training_steps(tree / "runs") == {"prune": 20, "sweep/prune-params50": 20}
