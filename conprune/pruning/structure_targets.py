"""Optional per-structure sparsity targets: "remove 60 % of the FFN units, 30 % of the heads".

The whole-model target (params or MACs) lets the optimiser choose where to cut; a per-structure
target additionally pins the fraction of units removed in one group, e.g. to keep attention
intact for a latency-critical decoder or to match another method's shapes. Each target gets its
own Lagrangian term on the group's *expected* removed fraction:

    s_g = 1 − Σ_l P(module l kept) · Σ_i P(unit i of l kept) / Σ_l n_l

where a group is `heads`, `ffn_units` (both macaron FFNs) or `conv_channels`, and n_l is the
dense unit count of layer l. Units of a module whose own gate is off count as removed, exactly
as the cost model does.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.pruning.gates import gate_group

UNIT_GROUPS = ("heads", "ffn_units", "conv_channels")


def check_structure_targets(targets: Mapping[str, float] | None) -> dict[str, float]:
    """Validate `target.structures` from the config: known groups, fractions in (0, 1)."""
    from conprune.pruning.lagrangian import check_target

    out = {}
    for group, value in (targets or {}).items():
        if group not in UNIT_GROUPS:
            raise ConpruneError(f"target.structures: unknown group {group!r}; use any of {UNIT_GROUPS}")
        out[group] = check_target(value, f"target.structures.{group}")
    return out


def removed_fraction(keep: Mapping[str, Tensor], group: str, dense_units: Mapping[str, int]) -> Tensor:
    """Expected fraction of `group`'s dense units removed, from gate keep-probabilities.

    `keep` holds P(z≠0) per gate key (missing keys = always kept); `dense_units` maps each unit gate
    key of the dense model to its unit count, so layers without a gate still count as kept.
    """
    keys = [key for key in dense_units if gate_group(key) == group]
    if not keys:
        raise ConpruneError(f"structure target on {group!r}, but the model has no such units")
    total = sum(dense_units[key] for key in keys)
    kept: Tensor | float = 0.0
    for key in keys:
        units = keep.get(key)
        expected = units.sum() if units is not None else torch.tensor(float(dense_units[key]))
        module = keep.get(key.rsplit(".", 1)[0] + ".module")
        kept = kept + (expected * module.reshape(()) if module is not None else expected)
    return 1.0 - torch.as_tensor(kept) / total
