"""`conprune compact`, `baseline`, `transcribe`: model files in and out."""

from __future__ import annotations

import argparse
import json

from conprune.commands.common import writable as _writable


def compact_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="prune/finetune (or teacher) Lightning checkpoint")
    p.add_argument("--out", required=True, help="model file to write, e.g. runs/prune/model.pt")


def compact(args: argparse.Namespace) -> None:
    from conprune.lit.export import compact_command

    _writable(args.out, "compact --out directory")
    print(json.dumps(compact_command(args.ckpt, args.out), indent=1))


def baseline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, choices=["magnitude", "random", "dense"])
    p.add_argument("--teacher", required=True, help="teacher checkpoint to cut")
    p.add_argument("--shapes-from", required=True, help="compact student whose per-layer shapes to copy")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--seed", type=int, default=0)


def baseline(args: argparse.Namespace) -> None:
    from conprune.lit.baseline_export import baseline_command

    _writable(args.out, "baseline --out directory")
    summary = baseline_command(args.teacher, args.shapes_from, args.method, args.out, seed=args.seed)
    print(json.dumps({k: v for k, v in summary.items() if k != "kept"}, indent=1))


def transcribe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="standalone model file from `conprune compact`")
    p.add_argument("files", nargs="+", help="audio files (any sample rate, mono or stereo)")


def transcribe(args: argparse.Namespace) -> None:
    from conprune.inference.transcribe import Transcriber, transcribe_files
    from conprune.models.package import load_model

    if transcribe_files(Transcriber(*load_model(args.model)), args.files):
        raise SystemExit(1)
