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
from conprune.models.config import PER_LAYER, ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model
from conprune.pruning.allocation import global_kept, solve_uniform
from conprune.pruning.baselines import baseline_gates, dense_config_like, kept_from_config, structure_scores
from conprune.pruning.compact import compact
from conprune.pruning.cost import count_params
from conprune.pruning.cost_model import ANALYTIC_METRICS, CostModel
from conprune.stages.checkpoint_io import load_ctc_model
from conprune.stages.methods import CUTS


def baseline_command(teacher_ckpt: str, method: str, out: str, shapes_from: str | None = None,
                     target: float | None = None, metric: str = "params", seed: int = 0,
                     allow_inexact: bool = False) -> dict[str, Any]:
    """Write the `method` cut of `teacher_ckpt` to `out` (`CUTS` of the method registry: which
    units, and how many per layer: "shapes" copies the conprune student's per-layer counts,
    "uniform" one keep ratio everywhere, solved for the target; "global" one normalised L1 ranking).

    The `*_shapes` methods copy the per-layer config of `shapes_from` (a conprune model file): an
    ablation of *which* units, given conprune's allocation. `*_uniform` and `magnitude_global`
    choose their own allocation to remove `target` of `metric` (MACs of a 10 s utterance) within
    1 %. "dense" writes a randomly initialised uniform dense model with the cost of `shapes_from` in
    `metric` (the from-scratch and distillation-only baselines). `seed` matters for the
    random methods and "dense"; `allow_inexact` is passed to `compact` (only relevant for
    conv_norm="layernorm"). Returns a small JSON-able summary: output path, params, kept counts.
    """
    if method not in CUTS:
        raise ConpruneError(f"baseline --method {method!r}: use one of {', '.join(CUTS)}")
    units, allocation = CUTS[method]
    cost = CostModel.from_target(metric, where="baseline --metric", allowed=ANALYTIC_METRICS)
    if allocation == "shapes" and shapes_from is None:
        raise ConpruneError(f"baseline --method {method} copies a student's shapes: pass --shapes-from MODEL")
    if allocation != "shapes" and target is None:
        raise ConpruneError(f"baseline --method {method} chooses its own allocation: pass --target (e.g. 0.5)")
    dense, extra = load_ctc_model(teacher_ckpt)
    dense.eval()
    if method == "dense":
        small = ConformerConfig.from_dict(load_model(shapes_from)[1]["config"])
        return _dense_baseline(dense, extra, small, out, seed, teacher_ckpt, shapes_from, cost)
    if allocation == "shapes":
        small = ConformerConfig.from_dict(load_model(shapes_from)[1]["config"])
        kept_counts = kept_from_config(dense.config, small)
    elif allocation == "uniform":
        kept_counts = solve_uniform(dense.config, target, cost)[1]
    else:
        kept_counts = global_kept(dense.config, structure_scores(dense), target, cost)
    gates = baseline_gates(dense, kept_counts, units, seed)
    with torch.no_grad():
        model = compact(dense, gates, allow_inexact=allow_inexact).eval()
    kept = {field: list(getattr(model.config, field)) for field in PER_LAYER}
    if allocation == "shapes":
        want = {field: list(getattr(small, field)) for field in PER_LAYER}
        if kept != want:  # compaction drops modules whose units are all 0; counts must still agree
            raise ConpruneError(f"baseline shapes {kept} differ from {shapes_from}'s {want}")
    params, dense_params = count_params(model.config), count_params(dense.config)
    reached = cost.sparsity(model.config, dense.config)
    meta = {"stage": f"baseline-{method}", "method": method, "seed": int(seed),
            "source": str(Path(teacher_ckpt).resolve()),
            "shapes_from": str(Path(shapes_from).resolve()) if shapes_from else None,
            "target": target, "metric": metric, "reached_sparsity": reached,
            "dense_config": dense.config.to_dict(), "dense_params": dense_params, "params": params, "kept": kept}
    save_model(out, model, extra.get("tokenizer"), extra.get("cmvn"), meta)
    return {"out": str(Path(out).resolve()), "stage": meta["stage"], "seed": int(seed),
            "dense_params": dense_params, "params": params, "params_ratio": params / dense_params,
            "reached_sparsity": reached, "kept": kept}


def _dense_baseline(teacher: ConformerCTC, extra: dict, small: ConformerConfig, out: str, seed: int,
                    teacher_ckpt: str, shapes_from: str, cost: CostModel) -> dict[str, Any]:
    """A randomly initialised uniform dense model with the student's cost in `cost`'s metric."""
    config = dense_config_like(teacher.config, cost.exact(small), cost)
    torch.manual_seed(seed)
    model = ConformerCTC(config).eval()
    meta = {"stage": "baseline-dense", "method": "dense", "seed": seed, "metric": cost.metric,
            "source": str(Path(teacher_ckpt).resolve()),
            "shapes_from": str(Path(shapes_from).resolve()), "dense_config": teacher.config.to_dict(),
            "dense_params": count_params(teacher.config), "params": count_params(config)}
    save_model(out, model, extra.get("tokenizer"), extra.get("cmvn"), meta)
    return {"out": str(out), "stage": "baseline-dense", "seed": seed, "dense_params": meta["dense_params"],
            "params": meta["params"], "params_ratio": meta["params"] / meta["dense_params"],
            "d_model": config.d_model}
