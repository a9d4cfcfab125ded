"""Per-layer shapes chosen by a rule, not learned: the allocation of the classic pruning baselines.

`solve_uniform`: one keep ratio for heads, FFN units and conv channels in every layer (the
textbook structured baseline), the ratio found by bisection so the analytic cost hits the target.
`global_kept`: one ranking of every unit of the model by its L1 score normalised per structure
type (a head has more weights than an FFN unit, so raw norms are not comparable across types),
removing the lowest until the target is reached, so layers lose different shares. Both return
kept counts in `ConformerGates.kept_counts()` format, which `baseline_gates` turns into masks.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.gate_keys import gate_shapes, module_key_of
from conprune.pruning.cost_model import CostModel

TOLERANCE = 0.01  # |reached − target| sparsity, the same for every method compared


def uniform_kept(config: ConformerConfig, ratio: float, head_ratio: float | None = None) -> dict[str, int]:
    """round(ratio × units) of every unit group in every layer (heads: `head_ratio`, default the
    same); a module with none left is removed."""
    kept: dict[str, int] = {}
    for key, shape in gate_shapes(config).items():
        if key == "hidden" or not shape:
            continue
        share = head_ratio if key.endswith("heads") and head_ratio is not None else ratio
        kept[key] = round(share * shape[0])
        kept[module_key_of(key)] = int(kept[key] > 0)
    return kept


def _bisect(config: ConformerConfig, target: float, cost: CostModel,
            head_ratio: float | None) -> tuple[float, float, dict[str, int]]:
    """(|reached − target|, ratio, kept) closest to `target` over the keep ratio (sparsity falls as
    the ratio grows)."""
    lo, hi = 0.0, 1.0
    best = (2.0, 1.0, uniform_kept(config, 1.0, head_ratio))
    for _ in range(40):
        mid = (lo + hi) / 2
        kept = uniform_kept(config, mid, head_ratio)
        reached = cost.sparsity_of_kept(config, kept)
        best = min(best, (abs(reached - target), mid, kept), key=lambda b: b[0])
        lo, hi = (mid, hi) if reached > target else (lo, mid)
    return best


def solve_uniform(config: ConformerConfig, target: float, cost: CostModel,
                  tolerance: float = TOLERANCE) -> tuple[float, dict[str, int]]:
    """(keep ratio, kept counts) of one keep ratio for every layer and structure, closest to `target`.

    A model has few heads per layer, so the head count moves in large steps (a quarter of the
    heads at 4 per layer) and one ratio may not land within `tolerance`: then the heads keep the
    rounded count of that ratio and FFN units and conv channels (fine-grained) share a second
    ratio solved with the heads fixed. Refuses a target that still cannot be reached.
    """
    gap, ratio, kept = _bisect(config, target, cost, None)
    if gap > tolerance:
        gap, ratio, kept = _bisect(config, target, cost, ratio)
    if gap > tolerance:
        raise ConpruneError(f"target {target:.2f} of {cost.metric}: no uniform keep ratio lands within {tolerance:.0%} "
                            f"(closest {target + gap:.3f} or {target - gap:.3f}); the unprunable front "
                            f"end and head may cap what can be removed")
    return ratio, kept


def _group(key: str) -> str:
    return key.rsplit(".", 1)[1]  # heads | units | channels


def type_means(scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The mean score of each unit type (heads, units, channels) over every key of `scores`."""
    types = {_group(k) for k in scores}
    return {g: torch.cat([v.reshape(-1) for k, v in scores.items() if _group(k) == g]).mean() for g in types}


def global_kept(config: ConformerConfig, scores: Mapping[str, Tensor], target: float, cost: CostModel,
                tolerance: float = TOLERANCE, means: Mapping[str, Tensor] | None = None) -> dict[str, int]:
    """Remove the units with the lowest normalised score, model-wide, until `target` is reached.

    A unit's score is divided by the mean score of its type (heads, FFN units, conv channels):
    over `scores`, or `means` (`type_means`) when given, e.g. those of the dense model when
    `config` is what gradual pruning has left of it.
    Removing a module's last unit also removes the module (its norm and bias); a unit whose removal
    would overshoot the target by more than `tolerance` is kept (small models with large heads).
    The units dropped within a layer are always its lowest-scoring ones, so
    `baseline_gates(..., "magnitude")` with the returned counts cuts exactly the units chosen here.
    """
    shapes = gate_shapes(config)
    keys = [k for k, s in shapes.items() if s and k != "hidden"]
    groups = dict(means) if means is not None else type_means({k: scores[k] for k in keys})
    ranked = sorted((float(scores[k][i] / groups[_group(k)]), k, i) for k in keys for i in range(shapes[k][0]))
    costs = cost.unit_costs(config)
    total = cost.exact(config)
    kept = {k: shapes[k][0] for k in keys}
    removed = 0.0
    for _, key, _ in ranked:
        if removed / total >= target:
            break
        fixed, per_unit = costs[key.split(".")[2]]
        unit = per_unit + (fixed if kept[key] == 1 else 0.0)
        if (removed + unit) / total > target + tolerance:
            continue  # a unit too large to remove without overshooting: keep it, try smaller ones
        kept[key] -= 1
        removed += unit
    out = {**kept, **{module_key_of(k): int(n > 0) for k, n in kept.items()}}
    reached = cost.sparsity_of_kept(config, out)
    if abs(reached - target) > tolerance:
        raise ConpruneError(f"global ranking reached {reached:.3f} of {cost.metric}, not {target:.2f} within "
                            f"{tolerance:.0%}")
    return out

