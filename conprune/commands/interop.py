"""`conprune import hf` and the `--format hf` half of `conprune export`: transformers checkpoints in and out.

The logic lives in `conprune.interop` (which imports transformers only when one of these runs); these
handlers only parse, check that the outputs can be written, and print the summary.
"""

from __future__ import annotations

import argparse
import json

from conprune.commands.common import writable


def import_hf_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a directory written by save_pretrained (model, tokenizer, feature extractor) or "
                   "a Hub name such as nvidia/parakeet-ctc-0.6b, read by transformers' from_pretrained")
    p.add_argument("--out", required=True, help="teacher model file to write, e.g. runs/hf/parakeet/teacher.pt")
    p.add_argument("--tokenizer-out", help="where to copy the checkpoint's tokenizer.json for data.tokenizer "
                   "(default: OUT with .tokenizer.json)")


def import_hf(args: argparse.Namespace) -> None:
    from conprune.interop.hf_import import import_hf as run

    writable(args.out, "import --out directory")
    writable(args.tokenizer_out, "import --tokenizer-out directory")
    print(json.dumps(run(args.source, args.out, args.tokenizer_out), indent=1))


def export_hf(args: argparse.Namespace) -> None:
    """`conprune export MODEL --format hf --out DIR` (called by `commands.models.export`)."""
    from conprune.errors import ConpruneError
    from conprune.interop.hf_export import export_hf as run

    if not args.out:
        raise ConpruneError("export --format hf needs --out DIR (the checkpoint directory to write)")
    writable(args.out, "export --out directory")
    print(json.dumps(run(args.model, args.out), indent=1))
