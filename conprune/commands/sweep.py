"""`conprune sweep`: every method at every target (and seed), one directory per run under RUNS/sweep/.

A comparison is only fair when every method gets the same budget, the same teacher and the same
evaluation, so the sweep builds all of them from one recipe: conprune is prune + finetune; each
pruned baseline is cut from the teacher and then trained by the finetune stage for as many steps
as conprune's two stages together (`experiments/baseline.yaml`, or the profile's `baseline.yaml`);
every final model is evaluated on the same splits with per-utterance predictions, which the report
compares pairwise. A run with a DONE stamp (or an existing output file) is skipped; a killed fit
resumes from its last.ckpt, so rerunning the same command finishes a half-done sweep. `--jobs N`
runs N of them at once (`conprune/commands/sweep_jobs.py`).

    conprune sweep --teacher pretrained/demo-teacher-v1/model.pt --runs runs --targets params50,params70
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conprune.commands import sweep_jobs
from conprune.errors import ConpruneError

EXPERIMENTS = Path("experiments")
BASELINES = ("magnitude_shapes", "random_shapes", "magnitude_uniform", "random_uniform", "magnitude_global",
             "dense_kd", "dense_scratch")
# Ablations of conprune: overlays in experiments/ablations/<name>/<stage>.yaml (prune and/or finetune).
ABLATIONS = ("conprune_no_layer_kd", "conprune_no_posterior_kd", "conprune_fixed_l0", "conprune_no_ramp",
             "conprune_ffn_only")
METHODS = ("conprune", *ABLATIONS, *BASELINES)


@dataclass(frozen=True)
class Step:
    """One command of the sweep and the file that shows it is done."""

    argv: list[str]
    done: Path


def sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", required=True, help="teacher checkpoint or model file (e.g. a shipped teacher)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="output root: runs go to RUNS/sweep/")
    p.add_argument("--data", default="data/synth", help="corpus root")
    p.add_argument("--pieces", type=int, default=64, help="data.num_pieces")
    p.add_argument("--profile", default="full", choices=["full", "quick"], help="step schedule")
    p.add_argument("--targets", default="params30,params50,params70,macs50",
                   help="comma-separated <metric><percent>, e.g. params50,macs50")
    p.add_argument("--methods", default=",".join(("conprune", *BASELINES)), help=f"any of {', '.join(METHODS)}")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (seed 0 runs have no -s suffix)")
    p.add_argument("--latency-table", help="the measured table of a latency<percent> target (conprune bench latency-table)")
    p.add_argument("--data-args", default="", help="extra --data.* arguments of every fit, e.g. a shipped "
                   "teacher's --data.tokenizer and --data.cmvn")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (each gets cores // jobs CPU threads, "
                   "or its own GPU when there are that many); 1: one after another, output to the terminal")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")


def sweep(args: argparse.Namespace) -> None:
    targets, seeds = args.targets.split(","), [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConpruneError(f"sweep --methods: unknown {unknown[0]!r}; use any of {', '.join(METHODS)}")
    if args.jobs < 1:
        raise ConpruneError(f"sweep --jobs must be >= 1, got {args.jobs}")
    runs = chains(args, methods, targets, seeds)
    if args.jobs > 1 and not args.dry_run:
        import torch

        sweep_jobs.run_chains(runs, args.jobs, gpus=torch.cuda.device_count())
        return
    for step in flatten(runs):
        if step.done.exists():
            continue
        print(" ".join(step.argv), flush=True)
        if args.dry_run:
            continue
        start = time.time()
        if subprocess.run(step.argv, check=False).returncode != 0:
            raise ConpruneError(f"sweep stopped: this command failed (rerun the sweep to resume): {' '.join(step.argv)}")
        sweep_jobs.stamp_done(step, time.time() - start)


def target_values(target: str) -> tuple[str, float]:
    """`params50` -> ("params", 0.5); metrics: params, macs, latency."""
    metric = next((m for m in ("params", "macs", "latency") if target.startswith(m)), "")
    digits = target.removeprefix(metric)
    if not metric or not digits.isdigit() or not 0 < int(digits) < 100:
        raise ConpruneError(f"sweep --targets: {target!r} is not <params|macs|latency><percent>, e.g. params50")
    return metric, int(digits) / 100


def chains(args: argparse.Namespace, methods: list[str], targets: list[str], seeds: list[int]) -> list[list[Step]]:
    """One command chain per final run (target, then seed, then method order); chains that come
    from one prune run share its steps."""
    return [method_steps(args, method, target, seed) for target in targets for seed in seeds for method in methods]


def flatten(runs: list[list[Step]]) -> list[Step]:
    """The chains' steps one after another, each shared step once, where it first appears."""
    steps: list[Step] = []
    for chain in runs:
        steps += [s for s in chain if s not in steps]
    return steps


def plan(args: argparse.Namespace, methods: list[str], targets: list[str], seeds: list[int]) -> list[Step]:
    """Every command, in an order that respects dependencies (a prune run before what copies it)."""
    return flatten(chains(args, methods, targets, seeds))


def _run(sweep_dir: Path, name: str, target: str, seed: int) -> Path:
    return sweep_dir / (f"{name}-{target}" + (f"-s{seed}" if seed else ""))


def method_steps(args: argparse.Namespace, method: str, target: str, seed: int) -> list[Step]:
    """The commands that produce RUNS/sweep/<method>-<target>[-s<seed>]/results.json."""
    conprune = [sys.executable, "-m", "conprune"]
    sweep_dir, (metric, sparsity) = args.runs / "sweep", target_values(target)
    ablation = method if method in ABLATIONS else None
    prune = _run(sweep_dir, "prune" if ablation is None else f"prune_{ablation.removeprefix('conprune_')}",
                 target, seed)
    final = _run(sweep_dir, method, target, seed)
    teacher = ["--model.init_args.teacher_ckpt", args.teacher]
    if metric == "latency" and not args.latency_table:
        raise ConpruneError(f"sweep target {target}: pass --latency-table (measure one with `conprune bench latency-table`)")
    if metric == "latency" and method not in ("conprune", *ABLATIONS):
        raise ConpruneError(f"sweep: {method} allocates by params or macs; latency targets are for conprune")
    table = ["--model.init_args.target.latency_table", args.latency_table] if metric == "latency" else []

    def fit(run: Path, configs: list[str], *extra: str) -> Step:
        overlays = [a for c in configs if (EXPERIMENTS / c).is_file() for a in ("--config", str(EXPERIMENTS / c))]
        resume = ["--ckpt_path", str(run / "checkpoints" / "last.ckpt")] if (run / "checkpoints" / "last.ckpt").is_file() else []
        argv = [*conprune, "fit", *overlays, "--run_dir", str(run), "--data.root", args.data,
                "--data.num_pieces", str(args.pieces), "--seed_everything", str(seed), *args.data_args.split(),
                *extra, *resume]
        return Step(argv, run / "DONE")

    def compact(run: Path) -> Step:
        return Step([*conprune, "compact", "--ckpt", str(run / "checkpoints" / "best.ckpt"), "--out",
                     str(run / "model.pt")], run / "model.pt")

    quick = args.profile == "quick"
    steps = []
    if method == "conprune" or ablation or method in ("magnitude_shapes", "random_shapes", "dense_kd", "dense_scratch"):
        overlay = [f"ablations/{ablation.removeprefix('conprune_')}/prune.yaml"] if ablation else []
        steps += [fit(prune, ["prune.yaml", *(["quick/prune.yaml"] if quick else []), *overlay], *teacher,
                      "--model.init_args.target.metric", metric, "--model.init_args.target.sparsity", str(sparsity),
                      *table),
                  compact(prune)]
    if method == "conprune" or ablation:
        overlay = [f"ablations/{ablation.removeprefix('conprune_')}/finetune.yaml"] if ablation else []
        steps.append(fit(final, ["finetune.yaml", *(["quick/finetune.yaml"] if quick else []), *overlay], *teacher,
                         "--model.init_args.student_model", str(prune / "model.pt")))
    else:
        cut = _run(sweep_dir, f"baseline-{method}", target, seed) / "model.pt"
        kind = "dense" if method.startswith("dense") else method
        steps.append(Step([*conprune, "baseline", "--method", kind, "--teacher", args.teacher, "--shapes-from",
                           str(prune / "model.pt"), "--target", str(sparsity), "--metric", metric,
                           "--seed", str(seed), "--out", str(cut)], cut))
        budget = ["quick/baseline.yaml"] if quick else []
        if method == "dense_scratch":
            steps.append(fit(final, ["teacher.yaml", "dense_scratch.yaml", *budget],
                             "--model.init_args.init_model", str(cut)))
        else:
            overlay = "finetune_dense-kd.yaml" if method == "dense_kd" else "baseline.yaml"
            steps.append(fit(final, ["finetune.yaml", overlay, *budget], *teacher,
                             "--model.init_args.student_model", str(cut)))
    steps += [compact(final), Step([*conprune, "evaluate", "--model", str(final / "model.pt"), "--data-root",
                                    args.data, "--out", str(final / "results.json"), "--predictions",
                                    str(final / "predictions")], final / "results.json")]
    return steps
