"""The one cost model per target: params, MACs and latency through one interface, exact at 0/1 gates,
and one-line errors for what a user can get wrong."""

from __future__ import annotations

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.gate_keys import gate_shapes
from conprune.pruning.cost import count_macs, count_params, pruned_config, ref_frames
from conprune.pruning.cost_model import METRICS, CostModel, kept_masks, metric_order, parse_target

CONFIG = ConformerConfig(d_model=32, num_layers=2, vocab_size=29, heads=[2, 4], head_dim=8,
                         ffn1_dim=[64, 48], ffn2_dim=[40, 56], conv_channels=[32, 16],
                         input_dim=20, conv_kernel=7, subsampling_channels=16)


def _random_masks(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: (torch.rand(s, generator=generator) > 0.4).float() if s else torch.tensor(1.0)
            for k, s in gate_shapes(CONFIG).items() if k != "hidden"}


@pytest.mark.parametrize("metric", ["params", "macs"])
def test_exact_and_expected_cost_agree_with_the_counters(metric: str) -> None:
    cost = CostModel.from_target(metric, ref_seconds=3.0)
    count = count_params if metric == "params" else (lambda cfg: count_macs(cfg, ref_frames(3.0)))
    assert cost.frames == 301 and cost.exact(CONFIG) == float(count(CONFIG))
    masks = _random_masks(1)
    small = pruned_config(CONFIG, masks)
    assert float(cost.expected(CONFIG, masks)) == pytest.approx(cost.exact(small), rel=1e-6)
    assert cost.sparsity(small, CONFIG) == pytest.approx(1 - count(small) / count(CONFIG))
    kept = {k: int(v.sum()) if v.dim() else int(v) for k, v in masks.items()}
    first_units = pruned_config(CONFIG, kept_masks(CONFIG, kept))  # same counts, the first units kept
    assert cost.sparsity_of_kept(CONFIG, kept) == pytest.approx(cost.sparsity(first_units, CONFIG))
    assert first_units == small


def test_unit_costs_are_linear_in_the_unit_count() -> None:
    params, macs = CostModel.from_target("params"), CostModel.from_target("macs")
    for name, (fixed, per_unit) in params.unit_costs(CONFIG).items():
        assert fixed > 0 and per_unit > 0, name
    assert all(fixed == 0.0 for fixed, _ in macs.unit_costs(CONFIG).values())
    one_fewer = CONFIG.replace(ffn1_dim=[63, 48])
    assert params.exact(CONFIG) - params.exact(one_fewer) == params.unit_costs(CONFIG)["ffn1"][1]
    assert macs.exact(CONFIG) - macs.exact(one_fewer) == macs.unit_costs(CONFIG)["ffn1"][1]


def test_latency_needs_a_table_and_has_no_unit_costs(tmp_path) -> None:
    from conprune.measure.latency_table import measure_latency_table

    with pytest.raises(ConpruneError, match="target.metric latency needs target.latency_table"):
        CostModel.from_target("latency")
    with pytest.raises(ConpruneError, match="target.metric must be one of params, macs, latency, got 'flops'"):
        CostModel.from_target("flops")
    with pytest.raises(ConpruneError, match="baseline --metric must be one of params, macs, got 'latency'"):
        CostModel.from_target("latency", where="baseline --metric", allowed=METRICS[:2])
    path = measure_latency_table(CONFIG, seconds=1.0, repeats=1, points=3).save(tmp_path / "t.json")
    cost = CostModel.from_target("latency", latency_table=str(path))
    masks = _random_masks(2)
    assert float(cost.expected(CONFIG, masks)) == pytest.approx(cost.exact(pruned_config(CONFIG, masks)))
    assert cost.expected(CONFIG, masks).dtype == torch.float32
    with pytest.raises(ConpruneError, match="per-unit costs must be one of params, macs"):
        cost.unit_costs(CONFIG)
    with pytest.raises(ConpruneError, match="measure a table for this teacher"):
        cost.check_fits(CONFIG.replace(d_model=48, head_dim=12))


def test_target_names() -> None:
    assert parse_target("params50") == ("params", 0.5) and parse_target("latency32") == ("latency", 0.32)
    for bad in ("flops50", "params", "params100", "macs0", "params5x"):
        with pytest.raises(ConpruneError, match="is not <params|macs|latency><percent>"):
            parse_target(bad)
    assert [metric_order(m) for m in ("params", "macs", "latency", "flops")] == [0, 1, 2, 3]
