"""`conprune sweep`: every method at every target (and seed), one directory per run under RUNS/sweep/.

A comparison is only fair when every method gets the same budget, the same teacher and the same
evaluation, so the sweep builds all of them from one recipe: conprune is prune + finetune; each
pruned baseline is cut from the teacher and then trained by the finetune stage for as many steps
as conprune's two stages together (`experiments/baseline.yaml`, or the profile's `baseline.yaml`),
or, a gradual one (GMP), pruned by its own stage on the prune stage's schedule and then compacted
and fine-tuned like conprune (RUNS/sweep/prune_<method>-<target>/); every final model is evaluated on the same splits with per-utterance predictions, which the report
compares pairwise. A run with a DONE stamp (or an existing output file) is skipped; a killed fit
resumes from its last.ckpt, so rerunning the same command finishes a half-done sweep. `--jobs N`
runs N of them at once (`conprune/commands/sweep_jobs.py`).

With `--lm FILE` every evaluation is run a second time with beam search and that n-gram LM, into
`results-lm.json` and `predictions-lm/` beside the greedy ones (a step of its own, skipped once
done), and so is the teacher, into RUNS/teacher/ where `make evaluate` puts its greedy results.
Every one of these evaluations gets the same explicit settings (`lm_options`): one LM weight and
word score for all rows, the ones `conprune tune-lm` chose on dev for the teacher, since weights
tuned per student would let each row pick its own decoder.

The methods come from the registry (`conprune/stages/methods.py`) and each run's command line from
the builder the Makefile's stages use too (`conprune/commands/run_steps.py`).

    conprune sweep --teacher pretrained/demo-teacher-v1/model.pt --runs runs --targets params50,params70
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from conprune.commands import sweep_jobs
from conprune.commands.sweep_budget import compute_args
from conprune.commands.run_steps import CONPRUNE, RunSettings, Step, compact_step, fit_step, run_in_order
from conprune.errors import ConpruneError
from conprune.pruning.cost_model import ANALYTIC_METRICS, parse_target
from conprune.stages.methods import GROUPS, METHODS, resolve


def sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", required=True, help="teacher checkpoint or model file (e.g. a shipped teacher)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="output root: runs go to RUNS/sweep/")
    p.add_argument("--data", default="data/synth", help="corpus root")
    p.add_argument("--pieces", type=int, default=64, help="data.num_pieces")
    p.add_argument("--profile", default="full", choices=["full", "quick"], help="step schedule")
    p.add_argument("--targets", default="params30,params50,params70,macs50",
                   help="comma-separated <metric><percent>, e.g. params50,macs50")
    p.add_argument("--methods", default="standard", help=f"comma-separated methods or groups ({', '.join(GROUPS)}); "
                   f"methods: {', '.join(METHODS)}")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (seed 0 runs have no -s suffix)")
    p.add_argument("--latency-table", help="the measured table of a latency<percent> target (conprune bench latency-table)")
    p.add_argument("--data-args", default="", help="extra --data.* arguments of every fit, e.g. a shipped "
                   "teacher's --data.tokenizer and --data.cmvn")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (each gets cores // jobs CPU threads, "
                   "or its own GPU when there are that many); 1: one after another, output to the terminal")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--lrs", default="", help="comma-separated learning rates of each method's final training run "
                   "(conprune's finetune, a baseline's training): one run each, named <run>-lr<LR>, the cut and "
                   "prune runs shared; the report keeps the LR with the lowest dev WER (seed 0)")
    p.add_argument("--lm", help="n-gram LM (KenLM binary or ARPA): evaluate every run, and the teacher, a second "
                   "time with beam search into results-lm.json and predictions-lm/")
    p.add_argument("--lm-weight", type=float, help="LM weight of every --lm evaluation (default: the teacher's, "
                   "tuned on dev by `conprune tune-lm` for this LM, else the decoder's default)")
    p.add_argument("--word-score", type=float, help="word score of every --lm evaluation (default as --lm-weight)")
    p.add_argument("--beam", type=int, help="beam of every --lm evaluation (default as --lm-weight)")


def sweep(args: argparse.Namespace) -> None:
    targets, seeds = args.targets.split(","), [int(s) for s in args.seeds.split(",")]
    methods = resolve(args.methods, "sweep --methods")
    if args.jobs < 1:
        raise ConpruneError(f"sweep --jobs must be >= 1, got {args.jobs}")
    runs = chains(args, methods, targets, seeds)
    if args.jobs > 1 and not args.dry_run:
        import torch

        sweep_jobs.run_chains(runs, args.jobs, gpus=torch.cuda.device_count())
        return
    run_in_order(flatten(runs), args.dry_run)


def target_values(target: str) -> tuple[str, float]:
    """`params50` -> ("params", 0.5); metrics: params, macs, latency."""
    return parse_target(target, "sweep --targets")


def chains(args: argparse.Namespace, methods: list[str], targets: list[str], seeds: list[int]) -> list[list[Step]]:
    """One command chain per final run (target, then seed, then method order), after the teacher's
    LM evaluation where --lm is given; chains that come from one prune run share its steps."""
    decoder = lm_options(args)
    first = [[evaluate_step(args.teacher, args.runs / "teacher", args.data, decoder)]] if decoder else []
    lrs = learning_rates(args.lrs)
    return first + [method_steps(args, method, target, seed, decoder, lr) for target in targets for seed in seeds
                    for method in methods for lr in lrs]


def learning_rates(spec: str) -> list[str]:
    """The --lrs values as written (they name the runs), each a positive number; [''] (the configs'
    own learning rate, no suffix) when none is given."""
    values = [v.strip() for v in (spec or "").split(",") if v.strip()]
    for value in values:
        try:
            ok = float(value) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ConpruneError(f"sweep --lrs: {value!r} is not a positive learning rate; e.g. --lrs 3e-4,6e-4,1e-3")
    return values or [""]


def teacher_info(teacher: str | Path) -> dict:
    """The loaded-model info (its `meta`) of a teacher model file, where `tune-lm` stores the
    decoder settings; {} for a checkpoint or a file not there yet (a dry run)."""
    path = Path(teacher)
    if not path.is_file() or path.suffix not in (".pt", ".onnx"):
        return {}
    if path.suffix == ".onnx":
        from conprune.inference.onnx_model import read_metadata

        return read_metadata(path)
    from conprune.models.package import read_package

    return {"meta": read_package(path).get("meta") or {}}


def lm_options(args: argparse.Namespace) -> list[str]:
    """The decoder arguments of every --lm evaluation, all explicit so that every row decodes
    alike: each given option, else the teacher's tuned value for this LM, else the default."""
    if not args.lm:
        if any(v is not None for v in (args.lm_weight, args.word_score, args.beam)):
            raise ConpruneError("sweep --lm-weight/--word-score/--beam apply to the LM evaluation: add --lm FILE")
        return []
    if not Path(args.lm).is_file():
        raise ConpruneError(f"sweep --lm: {args.lm} not found (`make lm` builds data/synth/lm/words-4gram.bin)")
    from conprune.inference.decoder_meta import resolve

    given = {"beam": args.beam, "lm_weight": args.lm_weight, "word_score": args.word_score}
    _, chosen = resolve(teacher_info(args.teacher), "beam", args.lm, given)
    return ["--decoder", "beam", "--lm", str(args.lm), "--beam", str(chosen.beam), "--lm-weight",
            str(chosen.lm_weight), "--word-score", str(chosen.word_score)]


def evaluate_step(model: str | Path, run: Path, data: str, decoder: Sequence[str] = ()) -> Step:
    """`conprune evaluate` of `model` into `run`: greedy (results.json, predictions/), or with the
    `decoder` arguments of `lm_options` (results-lm.json, predictions-lm/)."""
    suffix = "-lm" if decoder else ""
    source = "--ckpt" if Path(model).suffix == ".ckpt" else "--model"
    return Step([*CONPRUNE, "evaluate", source, str(model), "--data-root", data, "--out",
                 str(run / f"results{suffix}.json"), "--predictions", str(run / f"predictions{suffix}"), *decoder],
                run / f"results{suffix}.json")


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


def method_steps(args: argparse.Namespace, name: str, target: str, seed: int,
                 decoder: list[str] | None = None, lr: str = "") -> list[Step]:
    """The commands that produce RUNS/sweep/<method>-<target>[-s<seed>]/results.json: the method's
    prune run where it has one (conprune's, an ablation's or a gradual baseline's own) and its
    compaction, then its final training run (the finetune stage, or a cut and the baseline
    schedule), its compaction and the evaluation, then the LM evaluation where `decoder` (the
    arguments of `lm_options`) is given. A learning rate `lr` applies to the final training run
    only, which is then named `<method>-<target>[-s<seed>]-lr<lr>`."""
    method = METHODS[name]
    sweep_dir, (metric, sparsity) = args.runs / "sweep", target_values(target)
    settings = RunSettings(args.data, args.pieces, args.profile, tuple(args.data_args.split()))
    final = _run(sweep_dir, name, target, seed)
    final, final_lr = (final.with_name(f"{final.name}-lr{lr}"), ["--model.init_args.optim.lr", lr]) if lr else (final, [])
    teacher = ["--model.init_args.teacher_ckpt", args.teacher]
    if metric not in ANALYTIC_METRICS and not method.learned:
        raise ConpruneError(f"sweep: {name} allocates by {' or '.join(ANALYTIC_METRICS)}; {metric} targets "
                            "are for conprune")
    if metric == "latency" and not args.latency_table:
        raise ConpruneError(f"sweep target {target}: pass --latency-table (measure one with `conprune bench latency-table`)")
    table = ["--model.init_args.target.latency_table", args.latency_table] if metric == "latency" else []
    steps = []
    prune = _run(sweep_dir, method.prune_run, target, seed) if method.needs_prune_run else None
    if prune is not None:
        steps += [fit_step(prune, method.prune_configs, settings, seed,
                           [*teacher, "--model.init_args.target.metric", metric,
                            "--model.init_args.target.sparsity", str(sparsity), *table, *method.prune_args]),
                  compact_step(prune)]
    if prune is not None and method.prunes_itself:
        steps.append(fit_step(final, method.train_configs, settings, seed,
                              [*teacher, "--model.init_args.student_model", str(prune / "model.pt"), *final_lr]))
    else:
        twin = name.removesuffix("_compute") if method.budget == "compute" else name  # the same cut
        cut = _run(sweep_dir, f"baseline-{twin}", target, seed) / "model.pt"
        shapes = ["--shapes-from", str(prune / "model.pt")] if prune is not None else []
        steps.append(Step([*CONPRUNE, "baseline", "--method", method.cut, "--teacher", args.teacher, *shapes,
                           "--target", str(sparsity), "--metric", metric, "--seed", str(seed), "--out", str(cut)],
                          cut))
        budget = []
        if method.budget == "compute":
            conprune = METHODS["conprune"]
            budget = compute_args(args.teacher, _run(sweep_dir, conprune.prune_run, target, seed) / "model.pt", cut,
                                  conprune.prune_configs, conprune.train_configs, method.train_configs, args.profile)
        steps.append(fit_step(final, method.train_configs, settings, seed,
                              [*([] if method.teacher_free else teacher), method.init, str(cut), *final_lr, *budget]))
    steps += [compact_step(final), evaluate_step(final / "model.pt", final, args.data)]
    if decoder:
        steps.append(evaluate_step(final / "model.pt", final, args.data, decoder))
    return steps
