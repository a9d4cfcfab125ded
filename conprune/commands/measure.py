"""`conprune evaluate`, `bench`, `step-ratio`: numbers measured on models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conprune.commands.common import writable as _writable
from conprune.commands.lm import decoder_args, make_decoder

SPLITS_DEFAULT = "dev-clean,dev-other,test-clean,test-other (+ test-confirm-clean,test-confirm-other where present)"


def evaluate_args(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="standalone model file from `conprune compact`, or an exported .onnx "
                        "(run by ONNX Runtime)")
    source.add_argument("--ckpt", help="Lightning checkpoint (compacted on the fly)")
    p.add_argument("--data-root", default="data/synth", help="corpus root holding LibriSpeech/")
    p.add_argument("--splits", help=f"comma-separated splits (default {SPLITS_DEFAULT})")
    p.add_argument("--out", help="results JSON to write")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the latency measurement")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--predictions", help="directory for per-utterance hypotheses (predictions-<split>.jsonl)")
    decoder_args(p)


def evaluate(args: argparse.Namespace) -> None:
    from conprune.data.librispeech import default_eval_splits
    from conprune.measure.evaluate import evaluate as run_evaluate
    from conprune.measure.evaluate import format_summary, load_for_eval, write_results

    _writable(args.out, "evaluate --out directory")
    model, info = load_for_eval(args.model, args.ckpt)
    splits = args.splits.split(",") if args.splits else default_eval_splits(args.data_root)
    results = run_evaluate(model, info, args.data_root, splits, threads=args.threads,
                           repeats=args.repeats, predictions=args.predictions, decoder=make_decoder(args, info))
    results["model"] = args.model or args.ckpt
    if args.out:
        write_results(results, args.out)
    print(format_summary(results))


def bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", default="ratios",
                   choices=["ratios", "deploy", "long-audio", "latency-table", "latency-target", "matched-target"],
                   help="ratios: side-by-side speed ratios (default); deploy: ONNX Runtime fp32/int8 latency, "
                   "parity and WER of the -50 %% params student; long-audio: windowed transcription cost; "
                   "latency-table: the time of each prunable structure by kept size, for `target.metric: latency`; "
                   "latency-target: where latency-targeted students landed, and the WER at the params-50 "
                   "student's latency; matched-target: print the sweep target at the params-50 student's "
                   "measured latency in --out (e.g. latency43). deploy, long-audio and latency-target add their numbers to --out; ratios "
                   "rewrites it")
    p.add_argument("--teacher", default="runs/teacher/checkpoints/best.ckpt")
    p.add_argument("--params50", default="runs/prune/model.pt", help="the -50 %% params student (deploy, long-audio)")
    p.add_argument("--macs50", default="runs/prune-macs/model.pt")
    p.add_argument("--latency", help="latency-target: the student pruned to --latency-target (its model.pt)")
    p.add_argument("--latency-target", type=float, default=0.5, help="latency-target: the latency ratio it aimed at")
    p.add_argument("--matched", help="latency-target: the student aimed at the params-50 student's measured "
                   "latency (its model.pt; predictions/ beside it)")
    p.add_argument("--latency-table", help="latency-target: the table the students were pruned with")
    p.add_argument("--runs", type=Path, help="latency-target: take the three students from the sweep under RUNS "
                   "(conprune-params50, conprune-latency<target>, conprune-<matched-target>) instead of "
                   "--params50/--latency/--matched")
    p.add_argument("--data-root", default="data/synth")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1, help="latency-table: utterances per call")
    p.add_argument("--seconds", type=float, default=10.0, help="latency-table: audio seconds per utterance")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--out", default=None, help="default bench/results.json (CPU) or bench/results-<device>.json; "
                   "latency-table: bench/latency_table_<device>_t<threads>_b<batch>.json")


def bench(args: argparse.Namespace) -> None:
    from conprune.io_atomic import atomic_write_text

    if args.what == "latency-table":
        from conprune.measure.latency_table import measure_latency_table
        from conprune.stages.checkpoint_io import load_ctc_model

        out = Path(args.out or f"bench/latency_table_{args.device}_t{args.threads}_b{args.batch}.json")
        _writable(out, "bench --out directory")
        config = load_ctc_model(args.teacher)[0].config
        table = measure_latency_table(config, args.device, args.threads, args.batch, args.seconds, args.repeats)
        print(f"latency table -> {table.save(out)} (fixed {1000 * table.fixed_s:.1f} ms)")
        return
    from conprune.report.bench_table import bench_table

    out = Path(args.out or ("bench/results.json" if args.device == "cpu" else f"bench/results-{args.device}.json"))
    if args.what == "matched-target":
        from conprune.measure.latency_target import matched_target

        print(matched_target(out))
        return
    _writable(out, "bench --out directory")
    if args.what == "deploy":
        from conprune.measure.deploy_bench import deploy_bench

        numbers = deploy_bench(args.teacher, args.params50, args.data_root, out.parent / "deploy", args.threads,
                               args.seconds, args.repeats)
    elif args.what == "long-audio":
        from conprune.measure.long_audio import long_audio_bench

        numbers = long_audio_bench(args.params50, args.data_root, out.parent / "long_audio", args.threads)
    elif args.what == "latency-target":
        numbers = _latency_target(args, out)
    else:
        from conprune.lit.step_ratio import prune_step_ratio
        from conprune.measure.bench import run_bench

        numbers = run_bench(args.teacher, args.params50, args.macs50, args.data_root, args.device, args.threads,
                            repeats=args.repeats, bf16=args.bf16, step_ratio=prune_step_ratio)
    results = {**(json.loads(out.read_text()) if out.is_file() and args.what != "ratios" else {}), **numbers}
    atomic_write_text(out, json.dumps(results, indent=1) + "\n", "bench results")
    print(bench_table(results))


def _latency_target(args: argparse.Namespace, out: Path) -> dict:
    """`latency_target_error`: |measured ratio − target| ÷ target of the student aimed at
    --latency-target; `wer_at_equal_latency_delta`: the pooled test WER of the student aimed at the
    params-50 student's latency minus the params-50 student's, with the paired-bootstrap CI."""
    from conprune.errors import ConpruneError
    from conprune.measure.latency_target import (
        matched_target,
        measured_latency_ratios,
        predicted_latency_ratios,
    )
    from conprune.report.significance import compare_runs

    if args.runs:
        sweep = args.runs / "sweep"
        args.params50, args.latency, args.matched = (
            str(sweep / f"conprune-{name}" / "model.pt")
            for name in ("params50", f"latency{round(100 * args.latency_target)}", matched_target(out)))
    students = {"params50": args.params50, "latency": args.latency, "matched": args.matched}
    missing = [f"--{k} {v}" for k, v in students.items() if not v or not Path(v).is_file()]
    if missing:
        raise ConpruneError(f"bench latency-target: model file not found: {missing[0]} (make latency-target builds them)")
    ratios = measured_latency_ratios(args.teacher, students, args.seconds, args.repeats, args.threads)
    paired = compare_runs(Path(args.params50).parent / "predictions", Path(args.matched).parent / "predictions")
    out = {"latency_target": args.latency_target, "latency_ratio_latency_target": ratios["latency"],
           "latency_target_error": abs(ratios["latency"] - args.latency_target) / args.latency_target,
           "latency_ratio_matched": ratios["matched"], "latency_ratio_params50_side_by_side": ratios["params50"],
           "wer_params50": paired["wer_a"], "wer_latency_matched": paired["wer_b"],
           "wer_at_equal_latency_delta": paired["delta"], "wer_at_equal_latency_ci95": paired["delta_ci95"],
           "p_latency_matched_better": paired["p_b_better"], "latency_target_threads": args.threads}
    if args.latency_table:
        predicted = predicted_latency_ratios(args.teacher, students, args.latency_table)
        out.update({f"latency_predicted_{name if name != 'latency' else 'latency_target'}": value
                    for name, value in predicted.items()})
    return out


def step_ratio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher-ckpt", default="runs/teacher/checkpoints/best.ckpt")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)


def step_ratio(args: argparse.Namespace) -> None:
    from conprune.lit.step_ratio import step_ratio as measure

    print(json.dumps(measure(args.teacher_ckpt, args.batch_size, args.frames, args.repeats), indent=2))
