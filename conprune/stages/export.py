"""Export a Lightning checkpoint as a standalone (compacted) model file: `conprune compact`.

A prune-stage checkpoint holds the dense student (`model.*`), the gates' log α (`gates.*`) and,
under `checkpoint["conprune"]`, the dense config, tokenizer and CMVN. The deterministic gates
are rebuilt from log α alone (plus β and the stretch from the stage's `gates` hyperparameters);
a gradual-magnitude (GMP) checkpoint stores its 0/1 masks instead (`masks.values.*`), which are
the gates as they are. The student is compacted (`conprune.pruning.compact`) and written with
`save_model`, so the file equals what the prune stage validated and loads with torch alone. A checkpoint without gates
(teacher stage) is exported dense. No Trainer or LightningModule is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from conprune.errors import ConpruneError
from conprune.models.config import PER_LAYER, ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import save_model, state_dict_problem
from conprune.pruning.compact import compact
from conprune.pruning.cost import count_params
from conprune.pruning.gates import GROUPS, ConformerGates, GateConfig, gate_group
from conprune.pruning.gmp import stored_masks
from conprune.stages.checkpoint_io import load_checkpoint, model_from_checkpoint


def checkpoint_gates(ckpt: dict, model: ConformerCTC, path: str | os.PathLike = "checkpoint") -> dict | None:
    """Deterministic gate values of a prune-stage (or GMP) checkpoint, or None when it has no gates.

    A GMP checkpoint's masks are returned as stored, once checked against the model's gate keys.
    Group switches follow the keys actually stored (so an edited YAML cannot mismatch the file);
    β and the stretch, which shape `deterministic()`, come from `hyper_parameters["gates"]`;
    the count offset of a snapped cut (`pruning/snap.py`) is stored with the gates.
    """
    alphas = {k.removeprefix("gates."): v for k, v in ckpt["state_dict"].items() if k.startswith("gates.")}
    slots = [k.split(".")[1] for k in alphas if k.endswith(".log_alpha")]
    if not slots:
        return _checked_masks(ckpt, model, path)
    stored = dict((ckpt.get("hyper_parameters") or {}).get("gates") or {})
    present = {gate_group(slot.replace("__", ".")) for slot in slots}
    config = GateConfig.from_dict({**stored, **{g: g in present for g in GROUPS}})
    gates = ConformerGates(model, config)
    try:
        gates.load_state_dict(alphas, strict=True)
    except RuntimeError as exc:
        raise ConpruneError(f"checkpoint {path}: gate parameters do not fit its model config "
                            f"({state_dict_problem(exc)})") from exc
    return gates.deterministic()


def _checked_masks(ckpt: dict, model: ConformerCTC, path: str | os.PathLike) -> dict | None:
    """A GMP checkpoint's masks if they fit the model's gate keys and shapes; None without masks."""
    masks = stored_masks(ckpt["state_dict"])
    if masks is None:
        return None
    shapes = model.gate_shapes()
    wrong = sorted(k for k, v in masks.items() if k not in shapes or tuple(v.shape) != shapes[k])
    if wrong:
        raise ConpruneError(f"checkpoint {path}: gradual-pruning masks {wrong[:3]} do not fit its model config")
    return masks


def compact_checkpoint(ckpt_path: str | os.PathLike, out_path: str | os.PathLike,
                       allow_inexact: bool = False) -> tuple[ConformerCTC, dict[str, Any]]:
    """Write the compacted (prune stage) or dense (other stages) model of a checkpoint to `out_path`.

    Returns (the exported model, its meta dict). `allow_inexact` is passed to `compact` (only
    matters for conv_norm='layernorm' with partially pruned conv channels).
    """
    ckpt = load_checkpoint(ckpt_path)
    extra = ckpt["conprune"]
    dense = model_from_checkpoint(ckpt, ckpt_path)
    dense_config = dense.config
    dense.eval()
    gates = checkpoint_gates(ckpt, dense, ckpt_path)
    with torch.no_grad():
        model = compact(dense, gates, allow_inexact=allow_inexact) if gates is not None else dense
    # A finetune checkpoint's model is already compact; its teacher's shape travels as dense_config.
    original = ConformerConfig.from_dict(extra["dense_config"]) if extra.get("dense_config") else dense_config
    meta = {"source": str(Path(ckpt_path).resolve()), "stage": str(extra.get("stage", "teacher")),
            "compacted": gates is not None, "dense_config": original.to_dict(),
            "dense_params": count_params(original), "params": count_params(model.config),
            "kept": {field: list(getattr(model.config, field)) for field in PER_LAYER}}
    save_model(out_path, model.eval(), extra.get("tokenizer"), extra.get("cmvn"), meta)
    return model, meta


def compact_command(ckpt: str, out: str, allow_inexact: bool = False) -> dict[str, Any]:
    """`conprune compact --ckpt X --out model.pt`: export, then a small JSON-able summary."""
    _, meta = compact_checkpoint(ckpt, out, allow_inexact=allow_inexact)
    return {"out": str(Path(out).resolve()), "stage": meta["stage"], "compacted": meta["compacted"],
            "dense_params": meta["dense_params"], "params": meta["params"],
            "params_ratio": meta["params"] / meta["dense_params"], "kept": meta["kept"]}

