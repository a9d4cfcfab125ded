"""One cost model per sparsity target: what `params`, `macs` and `latency` mean, in one place.

A target removes a fraction of one metric. Everything that needs the cost of a config or the
expected cost under gate keep-probabilities (the prune stage's Lagrangian and checkpoint
selection, the prune summary, the baselines' allocation, the sweep's target names) asks a
`CostModel` built from the metric's name, so adding a metric means editing this file.
`params` and `macs` are counted analytically from the config (`conprune.pruning.cost`); `latency`
is predicted by a table measured on the deployment device (`conprune.pruning.latency_cost`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.gate_keys import gate_shapes
from conprune.pruning.cost import (
    count_macs,
    count_params,
    expected_macs,
    expected_params,
    module_unit_costs,
    pruned_config,
    ref_frames,
)
from conprune.pruning.latency_cost import LatencyTable, exact_latency, expected_latency

ANALYTIC_METRICS = ("params", "macs")  # counted from the config alone, so every method can aim at them
METRICS = (*ANALYTIC_METRICS, "latency")
REF_SECONDS = 10.0  # the utterance length MACs are counted at unless a target says otherwise


def check_metric(metric: str, where: str, allowed: tuple[str, ...] = METRICS) -> str:
    """`metric` if it is one of `allowed`, else a one-line error naming the field `where`."""
    if metric not in allowed:
        raise ConpruneError(f"{where} must be one of {', '.join(allowed)}, got {metric!r}")
    return metric


def parse_target(name: str, where: str = "target") -> tuple[str, float]:
    """A target's short name as the sweep and the report spell it: `params50` -> ("params", 0.5)."""
    metric = next((m for m in METRICS if name.startswith(m)), "")
    digits = name.removeprefix(metric)
    if not metric or not digits.isdigit() or not 0 < int(digits) < 100:
        raise ConpruneError(f"{where}: {name!r} is not <{'|'.join(METRICS)}><percent>, e.g. params50")
    return metric, int(digits) / 100


def metric_order(metric: str) -> int:
    """Where a metric sorts among METRICS (unknown ones last), for tables."""
    return METRICS.index(metric) if metric in METRICS else len(METRICS)


def kept_masks(config: ConformerConfig, kept: Mapping[str, int]) -> dict[str, Tensor]:
    """0/1 masks keeping the first `kept[key]` units of each gate key (module keys: kept > 0)."""
    shapes = gate_shapes(config)
    return {key: (torch.arange(shapes[key][0]) < n).float() if shapes[key] else torch.tensor(float(n > 0))
            for key, n in kept.items()}


@dataclass(frozen=True)
class CostModel:
    """The cost a target is measured in: `metric` at `frames` input frames (MACs' utterance
    length), predicted by `table` for `latency`."""

    metric: str
    frames: int
    table: LatencyTable | None = None

    @classmethod
    def from_target(cls, metric: str, ref_seconds: float = REF_SECONDS, latency_table: str | None = None,
                    where: str = "target.metric", allowed: tuple[str, ...] = METRICS) -> CostModel:
        """The cost model of a target's settings; a latency target loads its measured table."""
        check_metric(metric, where, allowed)
        table = None
        if metric == "latency":
            if not latency_table:
                raise ConpruneError(f"{where} latency needs target.latency_table: measure one with "
                                    "`conprune bench latency-table`")
            table = LatencyTable.load(latency_table)
        return cls(metric, ref_frames(ref_seconds), table)

    def check_fits(self, config: ConformerConfig, where: str = "target.latency_table") -> None:
        """Refuse a latency table measured for another model shape (no-op for analytic metrics)."""
        if self.table is not None:
            self.table.check_fits(config, where)

    def exact(self, config: ConformerConfig) -> float:
        """The cost of `config` (a dense or a pruned model)."""
        if self.table is not None:
            return exact_latency(config, self.table)
        return float(count_params(config) if self.metric == "params" else count_macs(config, self.frames))

    def expected(self, config: ConformerConfig, keep: Mapping[str, Tensor]) -> Tensor:
        """The expected cost of `config` under gate keep-probabilities `keep`, differentiable in
        them and at least float32 on their device; equal to `exact` of the cut at 0/1 values."""
        if self.table is not None:
            first = next(iter(keep.values()), None)
            return expected_latency(config, keep, self.table).to(
                device=first.device if first is not None else None, dtype=torch.float32)
        if self.metric == "params":
            return expected_params(config, keep)
        return expected_macs(config, keep, self.frames)

    def sparsity(self, pruned: ConformerConfig, dense: ConformerConfig) -> float:
        """1 − cost(pruned)/cost(dense): the fraction of the dense cost removed."""
        return 1.0 - self.exact(pruned) / self.exact(dense)

    def sparsity_of_kept(self, dense: ConformerConfig, kept: Mapping[str, int]) -> float:
        """The exact sparsity of `dense` cut to `kept` counts (`ConformerGates.kept_counts()` format)."""
        return self.sparsity(pruned_config(dense, kept_masks(dense, kept)), dense)

    def unit_costs(self, config: ConformerConfig) -> dict[str, tuple[float, float]]:
        """Block module name -> (cost of the module while any unit is kept, cost of each unit), exact
        because a module's cost is linear in its unit count. Analytic metrics only: a latency
        table's curves are not linear."""
        check_metric(self.metric, "per-unit costs", ANALYTIC_METRICS)
        costs = module_unit_costs(config, self.frames)
        return {name: params if self.metric == "params" else (0.0, macs) for name, (params, macs) in costs.items()}
