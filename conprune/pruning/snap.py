"""Land the cut on its target when the gates stopped short of it.

The Lagrangian pulls the *expected* cost toward the ramped target, and on deep targets in a short
gate phase it lags, so the deterministic cut stops short (measured: docs/pruning.md). A comparison
at unequal sizes is not a comparison, and a latency target that is missed is not a target.
Snapping keeps what the gates learned, their ranking of every unit by log α within each group, and
moves one model-wide count offset δ: each group keeps round(Σ sigmoid(log α − β·log(−l/r) − δ))
units, its top ones by log α. A larger δ keeps fewer units everywhere, most where the gates were
least sure, so the learned per-layer allocation shifts as the gates themselves would move it under
a stronger penalty. δ is found by bisection on the exact cost (params, MACs or the latency table)
of the deterministic cut; kept values (the medians folded in at compaction) do not change. The
fine-tune stage recovers what the extra cut costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

from conprune.pruning.gates import ConformerGates

SEARCH = 16.0  # |δ| bound: sigmoid(±16) is 1e-7 from 0/1, every group then keeps all or none
STEPS = 40


def snap_offset(gates: ConformerGates, sparsity_of: Callable[[Mapping[str, Tensor]], float],
                target: float, tolerance: float) -> float:
    """The count offset δ whose deterministic cut is closest to `target` sparsity (0.0 when the
    gates already land within `tolerance`).

    `sparsity_of` maps deterministic gate values (as `ConformerGates.deterministic`) to the exact
    sparsity of the model they cut. The sparsity never falls as δ grows, so bisection finds the
    crossing; counts move in whole units, so the closest value seen is returned.
    """
    reached = sparsity_of(gates.deterministic(0.0))
    if abs(reached - target) <= tolerance:
        return 0.0
    lo, hi = (0.0, SEARCH) if reached < target else (-SEARCH, 0.0)
    best = (abs(reached - target), 0.0)
    for _ in range(STEPS):
        mid = (lo + hi) / 2
        value = sparsity_of(gates.deterministic(mid))
        best = min(best, (abs(value - target), mid))
        lo, hi = (mid, hi) if value < target else (lo, mid)
    return best[1]
