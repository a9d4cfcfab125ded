"""The measured-latency target: the table's expected latency is differentiable in the gates,
equals a direct table lookup for 0/1 gates, is refused for another model shape, and a prune
stage can aim at it."""

from __future__ import annotations

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.lit.student import PrunedStudentModule
from conprune.measure.latency_table import grid, measure_latency_table
from conprune.pruning.cost import pruned_config
from conprune.pruning.gates import config_gate_shapes
from conprune.pruning.latency_cost import LatencyTable, exact_latency, expected_latency, interpolate


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[LatencyTable, object]:
    from conftest import make_tiny_model

    config = make_tiny_model().config
    measured = measure_latency_table(config, seconds=1.0, repeats=2, points=4)
    path = measured.save(tmp_path_factory.mktemp("latency") / "table.json")
    return LatencyTable.load(path), config, path


def test_grid_and_interpolation() -> None:
    assert grid(4, 9) == [1, 2, 3, 4] and grid(128, 5) == [1, 32, 64, 96, 128]
    curve = {"units": [1.0, 3.0], "seconds": [1.0, 2.0]}
    assert float(interpolate(curve, 2.0)) == pytest.approx(1.5) and float(interpolate(curve, 0.5)) == pytest.approx(1.0)
    n = torch.tensor(2.0, requires_grad=True)
    interpolate(curve, n).backward()
    assert n.grad == pytest.approx(0.5)


def test_expected_latency_matches_lookup_for_binary_gates_and_has_gradients(table) -> None:
    measured, config, _ = table
    shapes = config_gate_shapes(config)
    generator = torch.Generator().manual_seed(0)
    masks = {k: (torch.rand(s, generator=generator) > 0.4).float() if s else torch.tensor(1.0)
             for k, s in shapes.items() if k != "hidden"}
    small = pruned_config(config, masks)
    assert float(expected_latency(config, masks, measured)) == pytest.approx(exact_latency(small, measured))
    dense = exact_latency(config, measured)
    assert dense == pytest.approx(measured.fixed_s + sum(
        float(interpolate(measured.curves[c], n)) for c, n in
        [("mhsa", h) for h in config.heads] + [("ffn", f) for f in config.ffn1_dim + config.ffn2_dim]
        + [("conv", c) for c in config.conv_channels]))
    probs = {k: torch.full(s, 0.7, requires_grad=True) for k, s in shapes.items() if k != "hidden" and s}
    expected_latency(config, probs, measured).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in probs.values())


def test_prune_stage_aims_at_latency(table, teacher_ckpt) -> None:
    measured, config, path = table
    student = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), target={"metric": "latency", "latency_table": str(path)})
    assert student.total_cost == pytest.approx(exact_latency(config, measured))
    sparsity = student.expected_sparsity()
    sparsity.backward()
    assert torch.isfinite(sparsity) and any(p.grad is not None for p in student.gates.log_alpha_parameters())
    with pytest.raises(ConpruneError, match="needs target.latency_table"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), target={"metric": "latency"})
    other = LatencyTable(**{**measured.__dict__, "shape": {**measured.shape, "d_model": 999}})
    with pytest.raises(ConpruneError, match="latency table was measured for"):
        other.check_fits(config, "target.latency_table")
