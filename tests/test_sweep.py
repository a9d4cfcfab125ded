"""`conprune sweep`'s plan: which commands each method runs, with what budget, in what order."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pytest
import yaml

from conprune.commands.sweep import METHODS, chains, lm_options, plan, sweep_args, target_values
from conprune.errors import ConpruneError
from conprune.inference.decoder_meta import file_sha256
from conprune.inference.lm_decoder import DEFAULT_BEAM
from conprune.lit.config_files import expand_bases
from conprune.models.package import save_model


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sweep_args(parser)
    return parser.parse_args(["--teacher", "T.pt", "--runs", "R", *argv])


def _verbs(steps) -> list[str]:
    return [" ".join(s.argv[3:5]) if s.argv[3] == "fit" else s.argv[3] for s in steps]


def test_conprune_and_a_baseline_share_one_prune_run() -> None:
    args = _args("--profile", "quick", "--data-args", "--data.tokenizer tok.model --data.cmvn c.json")
    steps = plan(args, ["conprune", "magnitude_shapes", "magnitude_uniform"], ["params50"], [0])
    prunes = [s for s in steps if s.done == Path("R/sweep/prune-params50/DONE")]
    assert len(prunes) == 1
    prune = prunes[0].argv
    assert prune[prune.index("--model.init_args.target.sparsity") + 1] == "0.5"
    assert "experiments/quick/prune.yaml" in prune and "--data.tokenizer" in prune and "tok.model" in prune
    finals = {s.done.parent.name: s.argv for s in steps
              if s.done.name == "DONE" and not s.done.parent.name.startswith("prune")}
    assert set(finals) == {"conprune-params50", "magnitude_shapes-params50", "magnitude_uniform-params50"}
    assert "experiments/quick/finetune.yaml" in finals["conprune-params50"]
    for name in ("magnitude_shapes-params50", "magnitude_uniform-params50"):
        assert "experiments/baseline.yaml" in finals[name] and "experiments/quick/baseline.yaml" in finals[name]
    cut = next(s.argv for s in steps if s.argv[3] == "baseline" and "magnitude_uniform" in s.argv)
    assert cut[cut.index("--target") + 1] == "0.5" and cut[cut.index("--metric") + 1] == "params"
    evaluated = [s.done for s in steps if s.argv[3] == "evaluate"]
    assert evaluated == [Path(f"R/sweep/{n}/results.json") for n in
                         ("conprune-params50", "magnitude_shapes-params50", "magnitude_uniform-params50")]
    order = [s.done for s in steps]
    assert order.index(Path("R/sweep/prune-params50/model.pt")) < order.index(
        Path("R/sweep/baseline-magnitude_shapes-params50/model.pt"))


def max_steps(argv: list[str]) -> int:
    """The trainer.max_steps a `conprune fit` command line ends up with: its --config files and
    their bases in order, the last that sets it wins."""
    configs = expand_bases(argv)
    steps = [(yaml.safe_load(Path(c).read_text()) or {}).get("trainer", {}).get("max_steps")
             for flag, c in itertools.pairwise(configs) if flag == "--config"]
    return [s for s in steps if s is not None][-1]


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_gradual_baselines_prune_compact_and_finetune_on_conprunes_budget(profile) -> None:
    steps = plan(_args("--profile", profile), ["conprune", "gmp_uniform", "gmp_global", "magnitude_uniform"],
                 ["macs50"], [0, 1])
    fits = {s.done.parent.name: s.argv for s in steps if s.done.name == "DONE"}
    prune = fits["prune_gmp_global-macs50-s1"]
    assert "experiments/gmp.yaml" in prune and prune[prune.index("--model.init_args.allocation") + 1] == "global"
    assert prune[prune.index("--model.init_args.target.metric") + 1] == "macs"
    assert prune[prune.index("--model.init_args.target.sparsity") + 1] == "0.5"
    assert prune[prune.index("--seed_everything") + 1] == "1" and "T.pt" in prune
    final = fits["gmp_global-macs50-s1"]
    assert final[final.index("--model.init_args.student_model") + 1] == "R/sweep/prune_gmp_global-macs50-s1/model.pt"
    assert "experiments/finetune.yaml" in final and "experiments/baseline.yaml" not in final
    chain = [s.done for s in steps if "gmp_uniform-macs50" in str(s.done.parent) and "-s1" not in str(s.done)]
    assert chain == [Path("R/sweep/prune_gmp_uniform-macs50/DONE"), Path("R/sweep/prune_gmp_uniform-macs50/model.pt"),
                     Path("R/sweep/gmp_uniform-macs50/DONE"), Path("R/sweep/gmp_uniform-macs50/model.pt"),
                     Path("R/sweep/gmp_uniform-macs50/results.json")]
    assert not any(s.argv[3] == "baseline" and "gmp" in " ".join(s.argv) for s in steps)
    budget = {name: max_steps(fits[f"{name}-macs50"]) + (max_steps(fits[f"{run}-macs50"]) if run else 0)
              for name, run in (("conprune", "prune"), ("gmp_uniform", "prune_gmp_uniform"),
                                ("gmp_global", "prune_gmp_global"), ("magnitude_uniform", ""))}
    assert len(set(budget.values())) == 1, budget
    assert max_steps(prune) == max_steps(fits["prune-macs50-s1"])  # the same gate phase, step for step
    cut = next(s.argv for s in steps if s.argv[3] == "baseline")
    assert "--shapes-from" not in cut  # magnitude_uniform needs no prune run


def test_seeds_ablations_and_dense_baselines() -> None:
    steps = plan(_args(), ["conprune_no_ramp", "dense_scratch"], ["macs50"], [0, 2])
    names = {s.done.parent.name for s in steps}
    assert {"prune_no_ramp-macs50", "conprune_no_ramp-macs50-s2", "dense_scratch-macs50-s2"} <= names
    ablation = next(s.argv for s in steps if s.done == Path("R/sweep/prune_no_ramp-macs50-s2/DONE"))
    assert "experiments/ablations/no_ramp/prune.yaml" in ablation and ablation[ablation.index("--seed_everything") + 1] == "2"
    scratch = next(s.argv for s in steps if s.done == Path("R/sweep/dense_scratch-macs50/DONE"))
    assert "experiments/teacher.yaml" in scratch and "experiments/dense_scratch.yaml" in scratch
    assert "--model.init_args.teacher_ckpt" not in scratch


def test_bad_targets_and_methods() -> None:
    assert target_values("params70") == ("params", 0.7) and target_values("macs50") == ("macs", 0.5)
    assert target_values("latency32") == ("latency", 0.32)
    with pytest.raises(ConpruneError, match="is not <params|macs|latency><percent>"):
        target_values("flops50")
    with pytest.raises(ConpruneError, match="pass --latency-table"):
        plan(_args(), ["conprune"], ["latency50"], [0])
    with pytest.raises(ConpruneError, match="latency targets are for conprune"):
        plan(_args("--latency-table", "t.json"), ["magnitude_uniform"], ["latency50"], [0])
    steps = plan(_args("--latency-table", "t.json"), ["conprune"], ["latency50"], [0])
    assert "t.json" in steps[0].argv
    assert set(METHODS) >= {"magnitude_uniform", "magnitude_global", "random_uniform", "magnitude_shapes",
                            "random_shapes", "conprune_no_layer_kd", "conprune_ffn_only"}


def test_jobs_hand_one_chain_per_final_run_to_the_scheduler(monkeypatch) -> None:
    import conprune.commands.sweep_jobs as jobs
    from conprune.commands.sweep import sweep

    seen = {}
    monkeypatch.setattr(jobs, "run_chains", lambda chains, n, **kw: seen.update(chains=chains, jobs=n))
    sweep(_args("--methods", "conprune,magnitude_shapes,magnitude_uniform", "--targets", "params50", "--jobs", "2"))
    finals = [chain[-1].done.parent.name for chain in seen["chains"]]
    assert seen["jobs"] == 2 and finals == ["conprune-params50", "magnitude_shapes-params50", "magnitude_uniform-params50"]
    prune = Path("R/sweep/prune-params50/DONE")
    assert [any(s.done == prune for s in chain) for chain in seen["chains"]] == [True, True, False]
    with pytest.raises(ConpruneError, match="--jobs must be >= 1"):
        sweep(_args("--jobs", "0"))


def _lm(tmp_path: Path, text: bytes = b"an LM") -> Path:
    path = tmp_path / "words.bin"
    path.write_bytes(text)
    return path


def test_lm_adds_an_lm_evaluation_to_every_chain_and_the_teacher_only_when_asked(tmp_path) -> None:
    lm = _lm(tmp_path)
    plain = chains(_args(), ["conprune", "magnitude_uniform"], ["params50"], [0])
    assert not any("--decoder" in s.argv or "-lm" in s.done.name for chain in plain for s in chain)
    runs = chains(_args("--teacher", "best.ckpt", "--lm", str(lm), "--lm-weight", "0.75", "--word-score", "-1"),
                  ["conprune", "magnitude_uniform"], ["params50"], [0, 1])
    teacher, *finals = runs
    assert [s.done for s in teacher] == [Path("R/teacher/results-lm.json")]
    assert teacher[0].argv[3:6] == ["evaluate", "--ckpt", "best.ckpt"]
    decoder = ["--decoder", "beam", "--lm", str(lm), "--beam", str(DEFAULT_BEAM), "--lm-weight", "0.75",
               "--word-score", "-1.0"]
    assert len(finals) == 4 and len(plain[0]) + 1 == len(finals[0])
    for chain in finals:
        greedy, scored = chain[-2:]
        run = greedy.done.parent
        assert greedy.done == run / "results.json" and "--decoder" not in greedy.argv
        assert scored.argv[3:] == ["evaluate", "--model", str(run / "model.pt"), "--data-root", "data/synth", "--out",
                                   str(run / "results-lm.json"), "--predictions", str(run / "predictions-lm"), *decoder]
        assert scored.done == run / "results-lm.json"
    assert teacher[0].argv[-len(decoder):] == decoder


def test_lm_settings_are_the_teachers_tuned_ones_unless_given(tmp_path, tiny_model) -> None:
    lm = _lm(tmp_path)
    tuned = {"lm": str(lm), "lm_sha256": file_sha256(lm), "beam": 16, "lm_weight": 0.6, "word_score": 2.5}
    teacher = str(save_model(tmp_path / "teacher.pt", tiny_model(), extra={"decoder": tuned}))
    base = ["--teacher", teacher, "--lm", str(lm)]
    assert lm_options(_args(*base)) == ["--decoder", "beam", "--lm", str(lm), "--beam", "16", "--lm-weight", "0.6",
                                        "--word-score", "2.5"]
    assert lm_options(_args(*base, "--word-score", "0"))[-4:] == ["--lm-weight", "0.6", "--word-score", "0.0"]
    other = tmp_path / "other" / "words.bin"
    other.parent.mkdir()
    other.write_bytes(b"another LM")  # weights tuned for one LM mean nothing for another
    assert lm_options(_args("--teacher", teacher, "--lm", str(other)))[-6:] == [
        "--beam", str(DEFAULT_BEAM), "--lm-weight", "1.0", "--word-score", "0.0"]
    with pytest.raises(ConpruneError, match="apply to the LM evaluation: add --lm"):
        lm_options(_args("--lm-weight", "0.5"))
    with pytest.raises(ConpruneError, match="sweep --lm: .* not found"):
        lm_options(_args("--lm", str(tmp_path / "missing.bin")))


def test_lrs_train_each_final_run_at_each_rate_and_share_the_prune_and_cut_runs() -> None:
    args = _args("--profile", "quick", "--lrs", "3e-4,1e-3")
    steps = plan(args, ["conprune", "magnitude_shapes"], ["params50"], [0, 1])
    fits = {s.done.parent.name: s.argv for s in steps if s.done.name == "DONE"}
    assert set(fits) == {"prune-params50", "prune-params50-s1", *(f"{m}-params50{s}-lr{lr}" for m in
                         ("conprune", "magnitude_shapes") for s in ("", "-s1") for lr in ("3e-4", "1e-3"))}
    for name, argv in fits.items():
        lr = name.rpartition("-lr")[2] if "-lr" in name else None
        assert (argv[argv.index("--model.init_args.optim.lr") + 1] == lr) if lr else "--model.init_args.optim.lr" not in argv
    cuts = [s for s in steps if s.argv[3] == "baseline"]
    assert len(cuts) == 2 and len({s.done for s in steps}) == len(steps)
    assert [s.done.parent.name for s in steps if s.argv[3] == "evaluate"][:2] == [
        "conprune-params50-lr3e-4", "conprune-params50-lr1e-3"]
    without = {s.done.parent.name for s in plan(_args("--profile", "quick"), ["conprune"], ["params50"], [0])}
    assert "conprune-params50" in without and not any("-lr" in n for n in without)


@pytest.mark.parametrize("bad", ["0", "-1e-3", "fast", "3e-4,,x"])
def test_a_bad_learning_rate_is_a_one_line_error(bad) -> None:
    with pytest.raises(ConpruneError, match="--lrs: .* is not a positive learning rate"):
        chains(_args(f"--lrs={bad}"), ["conprune"], ["params50"], [0])
