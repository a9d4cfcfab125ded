"""Export a baseline model: the teacher cut to a conprune student's per-layer shapes.

`baseline_command` reads the dense teacher from its checkpoint and only the *config* of the
student's model file, keeps the same number of heads / FFN units / conv channels per layer by
weight magnitude or at random (`conprune.pruning.baselines`), compacts the teacher and writes a
standalone model file with the teacher's tokenizer and CMVN. The result has exactly the
student's size and MACs, so it can be fine-tuned and evaluated side by side with it. Plain
torch: no Trainer or LightningModule is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from conprune.errors import ConpruneError
from conprune.lit.checkpoint_io import load_ctc_model
from conprune.models.config import PER_LAYER, ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model
from conprune.pruning.baselines import baseline_gates, dense_config_like, kept_from_config
from conprune.pruning.compact import compact
from conprune.pruning.cost import count_params


def baseline_command(teacher_ckpt: str, shapes_from: str, method: str, out: str, seed: int = 0,
                     allow_inexact: bool = False) -> dict[str, Any]:
    """Write the `method` ("magnitude" | "random" | "dense") baseline of `teacher_ckpt` to `out`.

    "dense" writes a randomly initialised uniform dense model with the student's parameter count
    (for the from-scratch and distillation-only baselines) instead of cutting the teacher.

    `shapes_from` is a conprune model file (`conprune compact` output) whose per-layer config is
    copied. `seed` only matters for "random"; `allow_inexact` is passed to `compact` (only
    relevant for conv_norm="layernorm" with partially pruned conv channels). Returns a small
    JSON-able summary: output path, params and the per-layer kept counts.
    """
    dense, extra = load_ctc_model(teacher_ckpt)
    dense.eval()
    _, info = load_model(shapes_from)
    small_config = ConformerConfig.from_dict(info["config"])
    if method == "dense":
        return _dense_baseline(dense, extra, small_config, out, seed, teacher_ckpt, shapes_from)
    gates = baseline_gates(dense, kept_from_config(dense.config, small_config), method, seed)
    with torch.no_grad():
        model = compact(dense, gates, allow_inexact=allow_inexact).eval()
    kept = {field: list(getattr(model.config, field)) for field in PER_LAYER}
    want = {field: list(getattr(small_config, field)) for field in PER_LAYER}
    if kept != want:  # compaction drops modules whose units are all 0; counts must still agree
        raise ConpruneError(f"baseline shapes {kept} differ from {shapes_from}'s {want}")
    params, dense_params = count_params(model.config), count_params(dense.config)
    meta = {"stage": f"baseline-{method}", "method": method, "seed": int(seed),
            "source": str(Path(teacher_ckpt).resolve()), "shapes_from": str(Path(shapes_from).resolve()),
            "dense_config": dense.config.to_dict(), "dense_params": dense_params, "params": params,
            "kept": kept}
    save_model(out, model, extra.get("tokenizer"), extra.get("cmvn"), meta)
    return {"out": str(Path(out).resolve()), "stage": meta["stage"], "seed": int(seed),
            "dense_params": dense_params, "params": params, "params_ratio": params / dense_params,
            "kept": kept}


def _dense_baseline(teacher: ConformerCTC, extra: dict, small: ConformerConfig, out: str, seed: int,
                    teacher_ckpt: str, shapes_from: str) -> dict[str, Any]:
    """A randomly initialised uniform dense model with the student's parameter count (baselines c, d)."""
    config = dense_config_like(teacher.config, count_params(small))
    torch.manual_seed(seed)
    model = ConformerCTC(config).eval()
    meta = {"stage": "baseline-dense", "method": "dense", "seed": seed, "source": str(Path(teacher_ckpt).resolve()),
            "shapes_from": str(Path(shapes_from).resolve()), "dense_config": teacher.config.to_dict(),
            "dense_params": count_params(teacher.config), "params": count_params(config)}
    save_model(out, model, extra.get("tokenizer"), extra.get("cmvn"), meta)
    return {"out": str(out), "stage": "baseline-dense", "seed": seed, "dense_params": meta["dense_params"],
            "params": meta["params"], "params_ratio": meta["params"] / meta["dense_params"],
            "d_model": config.d_model}
