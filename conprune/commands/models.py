"""`conprune compact`, `baseline`, `transcribe`, `export`, `quantize`: model files in and out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conprune.commands.common import writable as _writable
from conprune.commands.lm import decoder_args, make_decoder


def compact_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="prune/finetune (or teacher) Lightning checkpoint")
    p.add_argument("--out", required=True, help="model file to write, e.g. runs/prune/model.pt")


def compact(args: argparse.Namespace) -> None:
    from conprune.stages.export import compact_command

    _writable(args.out, "compact --out directory")
    print(json.dumps(compact_command(args.ckpt, args.out), indent=1))


def baseline_args(p: argparse.ArgumentParser) -> None:
    from conprune.pruning.cost_model import ANALYTIC_METRICS
    from conprune.stages.methods import CUTS

    p.add_argument("--method", required=True, choices=list(CUTS),
                   help="*_shapes: a student's per-layer shapes (--shapes-from); *_uniform, magnitude_global: "
                   "their own allocation (--target); dense: a dense model of the student's size")
    p.add_argument("--teacher", required=True, help="teacher checkpoint or model file to cut")
    p.add_argument("--shapes-from", help="compact student whose per-layer shapes (or size, for dense) to copy")
    p.add_argument("--target", type=float, help="fraction of --metric to remove, for the methods that allocate")
    p.add_argument("--metric", default="params", choices=list(ANALYTIC_METRICS))
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--seed", type=int, default=0)


def baseline(args: argparse.Namespace) -> None:
    from conprune.stages.baseline_export import baseline_command

    _writable(args.out, "baseline --out directory")
    summary = baseline_command(args.teacher, args.method, args.out, shapes_from=args.shapes_from,
                               target=args.target, metric=args.metric, seed=args.seed)
    print(json.dumps({k: v for k, v in summary.items() if k != "kept"}, indent=1))


def transcribe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model file (`conprune compact`) or exported .onnx file")
    p.add_argument("files", nargs="+", help="audio files (any sample rate, mono or stereo)")
    decoder_args(p)


def transcribe(args: argparse.Namespace) -> None:
    from conprune.inference.onnx_model import load_any
    from conprune.inference.transcribe import Transcriber, transcribe_files

    model, info = load_any(args.model)
    if transcribe_files(Transcriber(model, info, decoder=make_decoder(args, info)), args.files):
        raise SystemExit(1)


def export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (`conprune compact`, `conprune ship-teacher`, `conprune import hf`)")
    p.add_argument("--format", default="onnx", choices=["onnx", "hf"],
                   help="onnx: a self-describing ONNX file (any model); hf: a transformers Parakeet/LASR checkpoint "
                        "directory (same sizes in every layer, the family's front end)")
    p.add_argument("--out", help="file to write (default: MODEL with .onnx); for hf, the directory to create")
    p.add_argument("--data-root", help="corpus root: check parity with PyTorch on --split's utterances")
    p.add_argument("--split", default="test-clean")
    p.add_argument("--utterances", type=int, default=0, help="parity on the first N utterances (0: all)")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset (default 23: one Attention node per layer; 20 for runtimes older than "
                        "ONNX Runtime 1.23)")


def export(args: argparse.Namespace) -> None:
    if args.format == "hf":
        from conprune.commands.interop import export_hf

        export_hf(args)
        return
    from conprune.inference.onnx_model import OPSET, OnnxCTC, export_onnx
    from conprune.models.package import load_model

    out = Path(args.out or Path(args.model).with_suffix(".onnx"))
    _writable(out, "export --out directory")
    model, info = load_model(args.model)
    export_onnx(model, info, out, opset=args.opset or OPSET)
    report = {"onnx": str(out), "bytes": out.stat().st_size}
    if args.data_root:
        from conprune.data import layout
        from conprune.data.manifest import read_manifest
        from conprune.measure.parity import onnx_parity

        rows = read_manifest(layout.manifest_path(args.data_root, args.split))
        rows = rows[: args.utterances] if args.utterances else rows
        report.update(onnx_parity(model, info, OnnxCTC(out), rows), split=args.split)
    print(json.dumps(report, indent=1))


def quantize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an fp32 ONNX file written by `conprune export`")
    p.add_argument("--mode", default="dynamic", choices=["dynamic", "static"],
                   help="dynamic: int8 weights, activations quantised per call (the faster one in `make bench` "
                        "here); static: QDQ with activation ranges calibrated on --split")
    p.add_argument("--out", help="file to write (default: MODEL with .int8-<mode>.onnx)")
    p.add_argument("--data-root", help="corpus root (static): calibration utterances come from its --split")
    p.add_argument("--split", default="dev-clean")
    p.add_argument("--utterances", type=int, default=32, help="calibration utterances (static)")


def quantize(args: argparse.Namespace) -> None:
    from conprune.errors import ConpruneError
    from conprune.inference.onnx_model import read_metadata
    from conprune.inference.quantize import calibration_batches, quantize_onnx

    source = Path(args.model)
    out = Path(args.out or source.with_suffix(f".int8-{args.mode}.onnx"))
    _writable(out, "quantize --out directory")
    info = read_metadata(source)
    calibration = None
    if args.mode == "static":
        if not args.data_root:
            raise ConpruneError("quantize --mode static needs --data-root (utterances to calibrate activation "
                                "ranges on), or use --mode dynamic")
        from conprune.data import layout
        from conprune.data.manifest import read_manifest

        rows = read_manifest(layout.manifest_path(args.data_root, args.split))
        calibration = calibration_batches(info, rows, args.utterances)
    quantize_onnx(source, out, args.mode, calibration)
    print(json.dumps({"int8": str(out), "mode": args.mode, "bytes": out.stat().st_size,
                      "fp32_bytes": source.stat().st_size}, indent=1))
