"""int8 on top of pruning: ONNX Runtime quantisation of an exported model, several ways.

`dynamic`: weights int8, activations quantised on the fly per call (no calibration; measured
slower than fp32 at demo sizes). `static`: QDQ int8 weights (per output channel) and activations
with ranges calibrated on real utterances, after ONNX Runtime's pre-processing (shape inference
and graph optimisation), so the quantised MatMuls fuse. Which is faster depends on the model and
the CPU, so the bench measures them side by side; the conprune metadata is kept in every file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from conprune.errors import ConpruneError

MODES = ("dynamic", "static")


def calibration_batches(info: dict, rows: list[dict], count: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised features (the model's own front end and CMVN, from `info`) of the first `count`
    utterances of a manifest, one per batch: what static int8 calibrates its activation ranges on."""
    from conprune.data.features import front_end, load_audio

    logmel, cmvn = front_end(info["cmvn"])
    out = []
    for row in rows[:count]:
        feats = cmvn(logmel(load_audio(row["path"])))
        out.append((feats[None], torch.tensor([feats.shape[0]])))
    return out


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over prepared (features, lengths) batches."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{"features": f.numpy().astype(np.float32), "lengths": n.numpy().astype(np.int64)} for f, n in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_onnx(source: str | os.PathLike, out: str | os.PathLike, mode: str = "static",
                  calibration: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                  per_channel: bool = True) -> Path:
    """Write an int8 copy of the exported model `source` (see the module docstring for `mode`).

    `source` must be an fp32 file written by `conprune export` (`conprune quantize` checks that with
    `read_metadata` first); an already-int8 one gets a one-line error."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise ConpruneError(f"quantize: mode must be one of {MODES}, got {mode!r}")
    metadata = {p.key: p.value for p in onnx.load(str(source), load_external_data=False).metadata_props}
    if "conprune_int8" in metadata:
        raise ConpruneError(f"{source} is already int8 ({metadata['conprune_int8']}): quantize the fp32 file that "
                            f"`conprune export` wrote")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        if mode == "dynamic":
            quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8, per_channel=per_channel,
                             op_types_to_quantize=["MatMul", "Gemm"])
        else:
            if not calibration:
                raise ConpruneError("quantize: static int8 needs calibration batches (dev utterances)")
            quantize_static(str(prepared), str(out), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["MatMul", "Gemm", "Conv"],
                            calibrate_method=CalibrationMethod.MinMax)
    model = onnx.load(str(out))
    del model.metadata_props[:]
    for key, value in {**metadata, "conprune_int8": mode}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out))
    return out
