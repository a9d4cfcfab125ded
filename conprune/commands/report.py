"""`conprune report`, `voices`, `prune-summary`, `readme`: results turned into tables and text."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from conprune.errors import ConpruneError


def report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", "--runs-dir", dest="runs_dir", type=Path, default=Path("runs"),
                   help="stage output root: the demo's runs and RUNS/sweep/ live here")
    p.add_argument("--results", nargs="*", default=[],
                   help="more runs: METHOD:TARGET=PATH, or results.json paths/globs in <method>-<target>/ dirs; "
                   "with --verify: the one results folder to check (default --out)")
    p.add_argument("--no-sweep", action="store_true", help="ignore RUNS_DIR/sweep/")
    p.add_argument("--no-demo", action="store_true", help="ignore the demo's fixed runs (runs/finetune, ...)")
    p.add_argument("--data", type=Path, default=Path("data/synth"), help="corpus root (words per split)")
    p.add_argument("--bench", type=Path, default=Path("bench/results.json"))
    p.add_argument("--out", type=Path, default=Path("results/demo"))
    p.add_argument("--no-wandb", action="store_true", help="skip W&B logging")
    p.add_argument("--wandb-dir", type=Path, default=None, help="W&B run directory (default RUNS/report)")
    p.add_argument("--verify", action="store_true",
                   help="recompute every WER, Δ and interval of the results folder's summary.json from its committed "
                   "predictions and the corpus manifests under --data; exit 1 at the first mismatch")


def report(args: argparse.Namespace) -> None:
    if args.verify:
        verify(args)
        return
    from conprune.report.report import run_report

    run_report(args)


def verify(args: argparse.Namespace) -> None:
    """`conprune report --verify`: 0 when every number is recomputed, 1 at the first mismatch."""
    from conprune.report.verify import Mismatch, verify_results

    if len(args.results) > 1:
        raise ConpruneError(f"--results: --verify checks one results folder, got {len(args.results)}; pass one")
    results = Path(args.results[0]) if args.results else args.out
    try:
        checked = verify_results(results, args.data)
    except Mismatch as exc:
        print(f"verify: MISMATCH {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"verify: {checked} numbers of {results / 'summary.json'} recomputed from its committed predictions "
          f"and {args.data}: all match")


def voices_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="corpus root (holds LibriSpeech/)")
    p.add_argument("--predictions", type=Path, required=True, help="dir searched for predictions-*.jsonl")
    p.add_argument("--out", type=Path, help="write the markdown table here too")


def voices(args: argparse.Namespace) -> None:
    from conprune.io_atomic import atomic_write_text
    from conprune.report.voices import to_markdown, wer_table

    table = to_markdown(wer_table(args.predictions, args.data))
    print(table)
    if args.out:
        atomic_write_text(args.out, table)


def prune_summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, default=Path("runs/prune"))
    p.add_argument("--teacher", type=Path, default=Path("runs/teacher"),
                   help="teacher run directory, or a shipped teacher's model file")


def prune_summary(args: argparse.Namespace) -> None:
    from conprune.io_atomic import atomic_write_json
    from conprune.report.prune_summary import summary

    info = summary(args.run, args.teacher)
    kept = info.pop("kept")
    print(json.dumps(info, indent=2))
    atomic_write_json(args.run / "summary.json", {**info, "kept": kept}, "prune summary", indent=2)


README_SECTIONS = ("shipped", "demo", "stress", "teacher", "prune", "bench", "deploy", "deploy_latency", "gpu", "report")


def readme_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sections", nargs="*", default=list(README_SECTIONS),
                   help=f"sections to regenerate (default all): {', '.join(README_SECTIONS)}")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="the full schedule's stage output root")
    p.add_argument("--results", type=Path, default=Path("results/full"), help="`conprune report`'s output dir")
    p.add_argument("--bench", type=Path, default=Path("bench/results.json"))
    p.add_argument("--shipped", type=Path, default=Path("pretrained/demo-teacher-v1"), help="the shipped teacher")
    p.add_argument("--demo", type=Path, default=Path("results/demo"), help="the demo's results")
    p.add_argument("--stress", type=Path, default=Path("results/demo-stress"),
                   help="the stress test's results on the demo schedule (tuned, seeded, equal compute, LM)")
    p.add_argument("--readme", type=Path, nargs="+", default=None, metavar="FILE",
                   help="files searched for each section's markers (default README.md and docs/*.md); "
                        "a section is rewritten in the one file that holds it")


def readme(args: argparse.Namespace) -> None:
    from conprune.report.readme_block import regenerate, section_files

    unknown = [s for s in args.sections if s not in README_SECTIONS]
    if unknown:
        raise ConpruneError(f"readme: unknown section {unknown[0]!r}; choose from {', '.join(README_SECTIONS)}")
    for section in regenerate(args.readme or section_files(), args.sections, args.runs, args.results, args.bench,
                              args.shipped, args.demo, args.stress):
        print(f"section {section} regenerated")
