"""A standalone, versioned model file: everything needed to transcribe, loadable with torch alone.

One `torch.save` of plain types and tensors only (config dict, state_dict, tokenizer bytes,
CMVN lists, meta), so `torch.load(path, weights_only=True)` reads it without unpickling code and
without Lightning or conprune's training stack. The config travels with the weights, so a
compacted (heterogeneous) model reloads strictly into the right shapes. `version` guards the
layout: a file from a newer conprune is refused instead of being misread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from conprune.errors import ConpruneError, first_line
from conprune.io_atomic import atomic_open
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC

FORMAT = "conprune-model"
VERSION = 1


def save_model(path: str | os.PathLike, model: ConformerCTC, tokenizer_proto: bytes | None = None,
               cmvn: dict | None = None, extra: dict | None = None,
               storage_dtype: torch.dtype | None = None) -> Path:
    """Write `model` (+ tokenizer model bytes, CMVN mean/std, `extra` as meta) to one file atomically.

    Tensors are copied to CPU and made contiguous, so a sliced view never drags its parent
    storage into the file. `storage_dtype` (e.g. torch.float16) stores floating tensors at half
    the size; `load_model` casts them back into the float32 model. Returns the path written.
    """
    path = Path(path)
    meta = dict(extra or {})
    _check_plain(meta)
    package = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: _stored(v, storage_dtype) for k, v in model.state_dict().items()},
        "tokenizer": bytes(tokenizer_proto) if tokenizer_proto is not None else None,
        "cmvn": _plain_cmvn(cmvn),
        "meta": meta,
    }
    with atomic_open(path, "wb", "model file") as fh:
        torch.save(package, fh)
    return path


def safe_load(path: str | os.PathLike, what: str, if_missing: str, if_unreadable: str) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU (no pickled code runs), with one-line errors:
    a missing file names `if_missing` (how to make one), an unreadable one the library's reason and
    `if_unreadable` (what the file should have been)."""
    path = Path(path)
    if not path.is_file():
        raise ConpruneError(f"{what} {path} not found: {if_missing}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConpruneError(f"cannot load {what} {path} safely ({type(exc).__name__}: {first_line(exc)}); "
                            f"{if_unreadable}") from exc


def read_package(path: str | os.PathLike) -> dict[str, Any]:
    """The raw package dict (`weights_only=True`), checked for format and version."""
    path = Path(path)
    package = safe_load(path, "model file", "export one with `conprune compact --ckpt <checkpoint> --out <model.pt>`",
                        "is it a conprune model written by `conprune compact`?")
    if not isinstance(package, dict) or package.get("format") != FORMAT:
        raise ConpruneError(f"{path} is not a conprune model file (no format={FORMAT!r}); a Lightning "
                            "checkpoint must first be exported with `conprune compact --ckpt <it> --out <model.pt>`")
    version = package.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise ConpruneError(f"model file {path} has format version {version!r}, but this conprune reads "
                            f"versions up to {VERSION}: upgrade conprune (or re-export the model with it)")
    for key in ("config", "state_dict"):
        if not isinstance(package.get(key), dict):
            raise ConpruneError(f"model file {path} has no '{key}'; re-export it with `conprune compact`")
    return package


def load_model(path: str | os.PathLike) -> tuple[ConformerCTC, dict[str, Any]]:
    """(model in eval mode, {"tokenizer", "cmvn", "meta", "config", "version"}) from `save_model`'s file."""
    package = read_package(path)
    try:
        config = ConformerConfig.from_dict(package["config"])
    except ConpruneError as exc:
        raise ConpruneError(f"model file {path}: {exc}") from exc
    model = ConformerCTC(config)
    try:
        model.load_state_dict(package["state_dict"], strict=True)
    except RuntimeError as exc:
        raise ConpruneError(f"model file {path}: weights do not fit its config "
                            f"({state_dict_problem(exc)}); re-export it with `conprune compact`") from exc
    info = {"tokenizer": package.get("tokenizer"), "cmvn": package.get("cmvn"),
            "meta": package.get("meta") or {}, "config": package["config"], "version": package["version"]}
    return model.eval(), info


def _stored(tensor: Tensor, dtype: torch.dtype | None) -> Tensor:
    tensor = tensor.detach().to("cpu", copy=True).contiguous()
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor


def state_dict_problem(exc: Exception) -> str:
    """The first concrete line of a load_state_dict error (its first line is only a header)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:200]


def _plain_cmvn(cmvn: dict | None) -> dict | None:
    """{"mean": [...], "std": [...]} as float lists (tensors/arrays accepted), plus the front-end
    settings `lifter` (int) and `utterance_cmn` (bool) when given, or None. An imported model's
    front end (`kind` parakeet / lasr, `conprune.data.hf_features.stored_front_end`) has no
    statistics and is stored as its plain settings."""
    if cmvn is None:
        return None
    if cmvn.get("kind", "logmel") != "logmel":  # an imported model's own front end: settings, no statistics
        plain_settings = dict(cmvn)
        _check_plain(plain_settings, "cmvn")
        return plain_settings
    missing = [k for k in ("mean", "std") if k not in cmvn]
    if missing:
        raise ConpruneError(f"cmvn must have 'mean' and 'std', missing {missing}")
    plain: dict = {k: [float(x) for x in (cmvn[k].tolist() if hasattr(cmvn[k], "tolist") else cmvn[k])]
                   for k in ("mean", "std")}
    if "lifter" in cmvn:
        plain["lifter"] = int(cmvn["lifter"])
    if "utterance_cmn" in cmvn:
        plain["utterance_cmn"] = bool(cmvn["utterance_cmn"])
    return plain


def _check_plain(value: Any, where: str = "meta") -> None:
    """Refuse anything `torch.load(weights_only=True)` could not read back (objects, numpy scalars)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConpruneError(f"model {where} keys must be strings, got {k!r}")
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif not (value is None or isinstance(value, (str, int, float, bool, bytes, Tensor))):
        raise ConpruneError(f"model {where} must hold plain values (str/int/float/bool/lists/dicts), "
                            f"got {type(value).__name__}")
