"""Gradual magnitude pruning of whole structures (Zhu & Gupta 2017): the kept counts and the masks.

The GMP baselines remove what conprune removes (attention heads, FFN units, conv channels; a module
goes with its last unit) by the one-shot magnitude baselines' allocation rules, but gradually while
the student keeps distilling: at each update the kept counts are set for the ramp's current
sparsity (in the target's metric) and, within each group, the alive units with the smallest current
L1 norm (`baselines.structure_scores`) are masked. A masked unit never comes back, so the counts
only fall, and once the ramp reaches the target the masks hold the final allocation and stay fixed.

- uniform: the final counts are `allocation.solve_uniform`'s (one keep ratio everywhere; they do
  not depend on the weights), so at the target the masks have exactly the one-shot
  `magnitude_uniform` counts. On the way every group moves from dense towards its final count by
  the same fraction p, p bisected so that the exact cost is closest to the current sparsity.
- global: `allocation.global_kept` on the model the masks leave, asked for what still has to go:
  its alive units ranked model-wide by their current score over the mean current score of their
  type in the whole model (pruned units included, as the one-shot cut normalises over the dense
  teacher). With the weights held fixed the gradual cut therefore ends on exactly the one-shot
  `magnitude_global` cut; during training the scores and the means follow the weights.

Masks are 0/1 values in the model's `gates=` format (unit masks [n], module masks ()), so
`compact` cuts the masked model exactly; they are buffers, so a checkpoint carries them and a
resumed run continues with the same ones. Plain torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.gate_keys import gate_shapes, module_key_of
from conprune.pruning.allocation import TOLERANCE, global_kept, solve_uniform, type_means
from conprune.pruning.baselines import structure_scores
from conprune.pruning.cost import pruned_config
from conprune.pruning.cost_model import CostModel

ALLOCATIONS = ("uniform", "global")
# Where the GMP stage module keeps its masks: checkpoint keys `masks.values.<slot>`.
STATE_PREFIX = "masks.values."
_BISECT_STEPS = 30
EPS = 1e-9


def check_allocation(allocation: str, where: str = "model.init_args.allocation") -> str:
    """`allocation` if it is one of ALLOCATIONS, else a one-line error naming the field."""
    if allocation not in ALLOCATIONS:
        raise ConpruneError(f"{where} must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
    return allocation


def reaches(sparsity: float, final: float) -> bool:
    """Whether a ramp value is the final target (the ramp computes it in float arithmetic)."""
    return sparsity >= final - EPS


def update_due(step: int, every: int, target: float, final: float, done: bool) -> bool:
    """Whether the masks are re-scored before optimizer step `step`: every `every` steps once the
    ramp's `target` is above 0, and at the first step it reaches `final`, so the masks land on the
    allocation exactly when the ramp ends; never again once they are there (`done`)."""
    if done or target <= 0:
        return False
    return step % every == 0 or reaches(target, final)


def final_kept(config: ConformerConfig, scores: Mapping[str, Tensor], target: float, cost: CostModel,
               allocation: str, tolerance: float = TOLERANCE) -> dict[str, int]:
    """The one-shot allocation at `target` (what `conprune baseline` cuts): uniform by
    `solve_uniform`, global by `global_kept` on `scores`; refuses a target neither reaches."""
    if check_allocation(allocation) == "uniform":
        return solve_uniform(config, target, cost, tolerance)[1]
    return global_kept(config, scores, target, cost, tolerance)


def between(config: ConformerConfig, final: Mapping[str, int], progress: float) -> dict[str, int]:
    """Counts a fraction `progress` of the way from dense to `final` in every unit group (rounded;
    never below `final`); a module with no unit left is removed."""
    shapes = gate_shapes(config)
    kept: dict[str, int] = {}
    for key, count in final.items():
        if shapes[key]:
            total = shapes[key][0]
            kept[key] = total - round(progress * (total - count))
            kept[module_key_of(key)] = int(kept[key] > 0)
    return kept


def _slot(key: str) -> str:
    return key.replace(".", "__")  # buffer names cannot contain '.'


def stored_masks(state_dict: Mapping[str, Tensor], prefix: str = STATE_PREFIX) -> dict[str, Tensor] | None:
    """The masks of a GMP checkpoint's `state_dict` in the model's gate format, or None if it has none."""
    masks = {k.removeprefix(prefix).replace("__", "."): v.detach().float().cpu()
             for k, v in state_dict.items() if k.startswith(prefix)}
    return masks or None


class GradualMasks(nn.Module):
    """0/1 masks of every unit group and module of one model, moved along the schedule by `update`.

    Args:
        config: the dense model's config (the teacher's).
        target: the final sparsity (fraction of `cost` removed).
        cost: the target's metric (params or MACs).
        allocation: `uniform` or `global` (see the module docstring).
        scores: the dense model's unit scores, to check the final allocation exists before training.
        tolerance: |reached − target| allowed, as for the one-shot baselines.
    """

    def __init__(self, config: ConformerConfig, target: float, cost: CostModel, allocation: str,
                 scores: Mapping[str, Tensor], tolerance: float = TOLERANCE) -> None:
        super().__init__()
        self.config, self.target, self.cost, self.tolerance = config, target, cost, tolerance
        self.allocation = check_allocation(allocation)
        self.final = final_kept(config, scores, target, cost, allocation, tolerance)
        self.shapes = {k: s for k, s in gate_shapes(config).items() if k != "hidden"}
        self.values = nn.Module()
        for key, shape in self.shapes.items():
            self.values.register_buffer(_slot(key), torch.ones(shape))
        # 1 once the masks hold the final allocation (an integer: no precision setting casts it).
        self.register_buffer("done", torch.zeros((), dtype=torch.long))

    def gates(self) -> dict[str, Tensor]:
        """The masks as `ConformerCTC.forward(gates=...)` takes them."""
        return {key: getattr(self.values, _slot(key)) for key in self.shapes}

    def kept_counts(self) -> dict[str, int]:
        """Units kept per unit key, 0 or 1 per module key (`ConformerGates.kept_counts()` format)."""
        return {key: int(value.count_nonzero()) for key, value in self.gates().items()}

    def pruned(self) -> ConformerConfig:
        """The config of the model the masks leave."""
        return pruned_config(self.config, self.gates())

    def sparsity(self) -> float:
        """The exact fraction of the dense cost the masks remove."""
        return self.cost.sparsity(self.pruned(), self.config)

    @property
    def at_final(self) -> bool:
        """Whether the masks hold the final allocation (the ramp has reached the target)."""
        return bool(self.done)

    def kept_for(self, sparsity: float, scores: Mapping[str, Tensor]) -> dict[str, int]:
        """Kept counts per unit key for the ramp's `sparsity` (the final allocation at the target)."""
        if self.allocation == "uniform":
            return self.final if reaches(sparsity, self.target) else self._uniform_between(sparsity)
        current = self.pruned()
        have, cost_now = self.cost.exact(current), self.cost.exact(self.config)
        counts = self.kept_counts()
        goal = 1.0 - (1.0 - min(sparsity, self.target)) * cost_now / have  # of what is left
        if goal <= 0:
            return counts
        alive = {key: scores[key][self.gates()[key].cpu() > 0] for key, shape in gate_shapes(current).items()
                 if shape and key != "hidden"}
        kept = global_kept(current, alive, goal, self.cost, self.tolerance * cost_now / have, type_means(scores))
        return {key: kept.get(key, 0) for key, shape in self.shapes.items() if shape}

    def _uniform_between(self, sparsity: float) -> dict[str, int]:
        """`between` counts whose exact sparsity is closest to `sparsity` (the fraction bisected)."""
        lo, hi, best = 0.0, 1.0, (sparsity, 0.0)
        for _ in range(_BISECT_STEPS):
            mid = (lo + hi) / 2
            reached = self.cost.sparsity_of_kept(self.config, between(self.config, self.final, mid))
            best = min(best, (abs(reached - sparsity), mid))
            lo, hi = (mid, hi) if reached < sparsity else (lo, mid)
        return between(self.config, self.final, best[1])

    @torch.no_grad()
    def update(self, model: ConformerCTC, sparsity: float) -> None:
        """Set the masks for the ramp's `sparsity`: the counts it asks for (never above the current
        ones), the kept units of each group being its alive units with the largest current L1 norm
        (ties to the lower index). `model` is the dense student the masks gate."""
        scores = structure_scores(model)
        counts, current = self.kept_for(sparsity, scores), self.kept_counts()
        for key, shape in self.shapes.items():
            if not shape:
                continue
            mask = getattr(self.values, _slot(key))
            keep = min(counts.get(key, 0), current[key])
            ranked = torch.where(mask.cpu() > 0, scores[key], torch.tensor(float("-inf")))
            new = torch.zeros(shape)
            new[torch.sort(ranked, descending=True, stable=True).indices[:keep]] = 1.0
            mask.copy_(new)
            getattr(self.values, _slot(module_key_of(key))).fill_(float(keep > 0))
        self.done.fill_(int(reaches(sparsity, self.target)))
