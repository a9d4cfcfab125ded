"""`conprune evaluate`, `bench`, `step-ratio`: numbers measured on models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conprune.commands.common import writable as _writable

SPLITS_DEFAULT = "dev-clean,dev-other,test-clean,test-other"


def evaluate_args(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="standalone model file from `conprune compact`")
    source.add_argument("--ckpt", help="Lightning checkpoint (compacted on the fly)")
    p.add_argument("--data-root", default="data/synth", help="corpus root holding LibriSpeech/")
    p.add_argument("--splits", default=SPLITS_DEFAULT)
    p.add_argument("--out", help="results JSON to write")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the latency measurement")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--predictions", help="directory for per-utterance hypotheses (predictions-<split>.jsonl)")


def evaluate(args: argparse.Namespace) -> None:
    from conprune.measure.evaluate import evaluate as run_evaluate
    from conprune.measure.evaluate import format_summary, load_for_eval, write_results

    _writable(args.out, "evaluate --out directory")
    model, info = load_for_eval(args.model, args.ckpt)
    results = run_evaluate(model, info, args.data_root, args.splits.split(","), threads=args.threads,
                           repeats=args.repeats, predictions=args.predictions)
    results["model"] = args.model or args.ckpt
    if args.out:
        write_results(results, args.out)
    print(format_summary(results))


def bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", default="runs/teacher/checkpoints/best.ckpt")
    p.add_argument("--params50", default="runs/prune/model.pt")
    p.add_argument("--macs50", default="runs/prune-macs/model.pt")
    p.add_argument("--data-root", default="data/synth")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--out", default=None, help="default bench/results.json (CPU) or bench/results-<device>.json")


def bench(args: argparse.Namespace) -> None:
    from conprune.io_atomic import atomic_write_text
    from conprune.measure.bench import run_bench
    from conprune.report.bench_table import bench_table

    out = Path(args.out or ("bench/results.json" if args.device == "cpu" else f"bench/results-{args.device}.json"))
    _writable(out, "bench --out directory")
    results = run_bench(args.teacher, args.params50, args.macs50, args.data_root, args.device, args.threads,
                        repeats=args.repeats, bf16=args.bf16)
    atomic_write_text(out, json.dumps(results, indent=1) + "\n", "bench results")
    print(bench_table(results))


def step_ratio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher-ckpt", default="runs/teacher/checkpoints/best.ckpt")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)


def step_ratio(args: argparse.Namespace) -> None:
    from conprune.measure.step_ratio import step_ratio as measure

    print(json.dumps(measure(args.teacher_ckpt, args.batch_size, args.frames, args.repeats), indent=2))
