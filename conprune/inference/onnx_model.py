"""ONNX Runtime deployment: export a model file to a self-describing ONNX model, and run one.

`export_onnx` traces the model with the dynamo exporter (`torch.export`; the forward has no
data-dependent Python branch) with a dynamic batch and time axis, and stores in the ONNX
metadata what transcription needs beside the graph: the model config, the SentencePiece
tokenizer and the CMVN statistics with the front-end settings. `OnnxCTC` reads such a file and
stands in for `ConformerCTC` wherever a model is only called (`conprune transcribe`, `conprune
evaluate`): same inputs, same `ModelOutput`. A file without that metadata is refused in one line.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from conprune.errors import ConpruneError, first_line
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC, ModelOutput

FORMAT = "conprune-onnx-1"
DISABLED_FUSIONS = ["SkipLayerNormFusion"]
# Opset 23 writes each attention as one ONNX `Attention` node and each rotary embedding as one
# `RotaryEmbedding` node (ONNX Runtime >= 1.23), each faster in ONNX Runtime than the chain of
# plain ops it replaces, with equal outputs (measured: docs/benchmarks.md). rel_xl attention
# fits the same node: its Transformer-XL position scores are the node's additive [B, H, T, T]
# mask, computed before it by plain ops (the relative shift as a GatherElements). `conprune
# export --opset 20` writes the plain ops, for older runtimes.
OPSET = 23
KEYS = ("conprune_format", "conprune_config", "conprune_tokenizer", "conprune_cmvn")


class _Graph(nn.Module):
    """The exported function: (features [B,T,F], lengths [B]) -> (log_probs [B,T',V], lengths [B])."""

    def __init__(self, model: ConformerCTC) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(features, lengths)
        return out.log_probs, out.lengths


def traced_program(module: nn.Module, config: ConformerConfig, example: tuple[Tensor, Tensor],
                   max_frames: int) -> tuple[torch.export.ExportedProgram, int]:
    """`torch.export` of `module` with a dynamic batch and time axis; returns it and the fewest
    input frames it accepts.

    The lower bound of the time axis must give two output frames (with one, the traced shapes
    would specialise: a length-1 axis broadcasts), and torch.export must be able to prove its
    shape guards for it, which depends on the bound's residue modulo the strides; the first
    bound it proves, counting up from the fewest frames, is used (12 frames at ×4, about 0.1 s).
    """
    fewest = next(n for n in range(config.min_input_frames, 1000) if config.subsampled_length(n) >= 2)
    batch = torch.export.Dim("batch", min=1, max=1024)
    for low in range(fewest, fewest + 4 * config.subsampling_factor):
        frames = torch.export.Dim("frames", min=low, max=max_frames)
        try:
            program = torch.export.export(module, example, dynamic_shapes={"features": {0: batch, 1: frames},
                                                                           "lengths": {0: batch}})
        except torch._dynamo.exc.UserError:
            continue
        return program, low
    raise ConpruneError(f"export: torch.export found no provable lower bound for the time axis from {fewest} frames")


def export_onnx(model: ConformerCTC, info: dict, out: str | os.PathLike, max_frames: int = 360_000,
                opset: int = OPSET) -> Path:
    """Write `model` (with its `info` from `load_model`: tokenizer, cmvn) as an ONNX file with a
    dynamic batch and time axis (up to `max_frames` input frames: an hour of audio), at `opset`."""
    import onnx

    if info.get("tokenizer") is None or info.get("cmvn") is None:
        raise ConpruneError("export: the model file has no tokenizer or CMVN; export a file written by "
                            "`conprune compact` or `conprune ship-teacher`")
    model = model.eval()
    cfg = model.config
    example = (torch.zeros(2, 200, cfg.input_dim), torch.tensor([200, 199]))
    with torch.no_grad():
        traced, fewest = traced_program(_Graph(model), cfg, example, max_frames)
        if opset < 23:  # no RotaryEmbedding op before opset 23: back to plain tensor ops
            traced = traced.run_decompositions(torch.onnx.ops.aten_decompositions())
        program = torch.onnx.export(traced, example, dynamo=True, verbose=False, opset_version=opset,
                                    input_names=["features", "lengths"], output_names=["log_probs", "out_lengths"])
    proto = program.model_proto
    meta = {"conprune_format": FORMAT, "conprune_config": json.dumps(cfg.to_dict()), "conprune_min_frames": str(fewest),
            "conprune_tokenizer": base64.b64encode(bytes(info["tokenizer"])).decode(),
            "conprune_cmvn": json.dumps(info["cmvn"])}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    return out


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The conprune entries of an ONNX file's metadata, decoded; one-line error when absent. The
    decoder settings `conprune tune-lm` stores (`conprune.inference.decoder_meta`) go to meta."""
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    errors = (OSError, state.Fail, state.InvalidGraph, state.NoSuchFile, state.InvalidProtobuf, state.InvalidArgument)
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except errors as exc:
        raise ConpruneError(f"{path}: not a loadable ONNX model ({first_line(exc)})") from None
    found = session.get_modelmeta().custom_metadata_map
    missing = [k for k in KEYS if k not in found]
    if missing or found.get("conprune_format") != FORMAT:
        raise ConpruneError(f"{path} has no conprune metadata ({', '.join(missing) or 'format'}); export it with "
                            f"`conprune export --format onnx MODEL.pt`")
    return {"config": json.loads(found["conprune_config"]), "min_frames": int(found.get("conprune_min_frames", 1)),
            "tokenizer": base64.b64decode(found["conprune_tokenizer"]),
            "cmvn": json.loads(found["conprune_cmvn"]),
            "meta": {"format": "onnx", **({"decoder": json.loads(found["conprune_decoder"])}
                                          if "conprune_decoder" in found else {})}}


class OnnxCTC:
    """An ONNX Runtime session that is called like `ConformerCTC` (eval mode only).

    `threads` sets ONNX Runtime's intra-op threads (1 for the single-core latency measurements).
    The SkipLayerNormalization fusion is off: on the Conformer's [B, T, d] residual stream its CPU
    kernel is slower than the separate Add and LayerNormalization it replaces (measured:
    docs/benchmarks.md).
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        info = read_metadata(path)
        self.config = ConformerConfig.from_dict(info["config"])
        self.info = info
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=DISABLED_FUSIONS)

    def eval(self) -> OnnxCTC:
        return self

    def __call__(self, features: Tensor, lengths: Tensor | None, gates: None = None,
                 return_hidden: bool = False) -> ModelOutput:
        if gates or return_hidden:
            raise ConpruneError("an ONNX model runs the exported graph only: no gates, no hidden states")
        if features.shape[1] < self.info["min_frames"]:
            raise ConpruneError(f"the exported model needs at least {self.info['min_frames']} frames "
                                f"({self.info['min_frames'] / 100:.2f} s), got {features.shape[1]}")
        if lengths is None:
            lengths = torch.full((features.shape[0],), features.shape[1], dtype=torch.long)
        log_probs, out_lengths = self.session.run(None, {"features": features.detach().cpu().float().numpy(),
                                                         "lengths": lengths.detach().cpu().long().numpy()})
        return ModelOutput(torch.from_numpy(log_probs), torch.from_numpy(out_lengths), [])


def load_any(path: str | os.PathLike, threads: int | None = None) -> tuple[ConformerCTC | OnnxCTC, dict]:
    """(model, info) of a model file (`.pt`, PyTorch) or an exported `.onnx` file (ONNX Runtime)."""
    from conprune.models.package import load_model

    if str(path).endswith(".onnx"):
        model = OnnxCTC(path, threads)
        return model, model.info
    return load_model(path)
