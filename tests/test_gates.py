"""Hard Concrete gates and the ConformerGates container on a tiny heterogeneous model."""

from __future__ import annotations

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.gate_keys import gate_shapes
from conprune.pruning.gates import ConformerGates, GateConfig, gate_group
from conprune.pruning.hardconcrete import MIN_KEPT, HardConcrete

LOG_ALPHAS = torch.tensor([-4.0, -2.0, -1.0, 0.0, 1.0, 3.0])


def _hc(log_alpha: torch.Tensor) -> HardConcrete:
    hc = HardConcrete(len(log_alpha), init_std=0.0)
    with torch.no_grad():
        hc.log_alpha.copy_(log_alpha)
    return hc


def test_keep_prob_matches_monte_carlo():
    torch.manual_seed(0)
    hc = _hc(LOG_ALPHAS).train()
    samples = torch.stack([hc() for _ in range(20000)])
    empirical = (samples > 0).float().mean(0)
    assert torch.allclose(empirical, hc.keep_prob().detach(), atol=0.02)
    assert torch.isclose(hc.expected_count(), hc.keep_prob().sum())


def test_samples_in_unit_interval_with_exact_zeros_and_ones():
    torch.manual_seed(1)
    hc = _hc(torch.zeros(1000)).train()
    z = hc()
    assert z.min() >= 0 and z.max() <= 1
    assert (z == 0).any() and (z == 1).any() and ((z > 0) & (z < 1)).any()


def test_init_keep_sets_keep_probability():
    for p in (0.5, 0.9, 0.99):
        assert torch.allclose(HardConcrete(50, init_keep=p, init_std=0.0).keep_prob(), torch.tensor(p))
    with pytest.raises(ConpruneError, match="keep-probability"):
        HardConcrete(4, init_keep=1.0)


@pytest.mark.parametrize("seed", range(4))
def test_deterministic_keeps_round_expected_top_k(seed):
    torch.manual_seed(seed)
    hc = _hc(torch.randn(37) * 3).eval()
    z = hc()
    k = int(torch.round(hc.expected_count()).item())
    assert hc.kept_count() == k and int((z > 0).sum()) == k
    kept = z > 0
    if 0 < k < 37:
        assert hc.log_alpha[kept].min() >= hc.log_alpha[~kept].max()
    assert (z[kept] >= MIN_KEPT).all() and (z <= 1).all()
    assert torch.equal(z[kept], hc.median()[kept].clamp_min(MIN_KEPT).detach())
    assert torch.equal(z, hc.deterministic())


def test_kept_units_with_zero_median_stay_nonzero():
    hc = _hc(torch.full((10,), -2.0))  # P(z≠0) ≈ 0.4, median 0 -> k = 4 units at MIN_KEPT
    z = hc.deterministic()
    assert int((z > 0).sum()) == 4 and torch.all(z[z > 0] == MIN_KEPT)


def test_confident_gates_are_exactly_one():
    assert torch.equal(HardConcrete(8, init_keep=0.99).eval()(), torch.ones(8))


def test_gradients_reach_log_alpha_from_samples_and_keep_probs():
    hc = _hc(LOG_ALPHAS).train()
    hc().sum().backward()
    assert hc.log_alpha.grad is not None and hc.log_alpha.grad.abs().sum() > 0
    hc.log_alpha.grad = None
    hc.keep_prob().sum().backward()
    assert (hc.log_alpha.grad > 0).all()


def _hetero() -> ConformerConfig:
    return ConformerConfig(d_model=16, num_layers=3, vocab_size=7, heads=[2, 1, 0], head_dim=8,
                           ffn1_dim=[12, 0, 8], ffn2_dim=[10, 6, 4], conv_channels=[8, 4, 0],
                           conv_kernel=3, input_dim=16, dropout=0.0, attn_dropout=0.0)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.randn(2, 30, 16), torch.tensor([30, 21])


def test_keys_and_shapes_match_model():
    model = ConformerCTC(_hetero())
    gates = ConformerGates(model)
    expected = {k: s for k, s in model.gate_shapes().items() if k != "hidden"}
    assert gates.shapes() == expected and gates.keys() == list(expected)
    layers = model.layers  # the layout derived from the config matches the modules actually built
    built = {"mhsa": lambda m: m.heads, "ffn1": lambda m: m.fc1.out_features,
             "ffn2": lambda m: m.fc1.out_features, "conv": lambda m: m.dw.out_channels}
    for key, shape in gate_shapes(model.config).items():
        if key != "hidden":
            layer, name = int(key.split(".")[1]), key.split(".")[2]
            module = getattr(layers[layer], name)
            assert module is not None and (shape == () or shape == (built[name](module),)), key
    assert [k for k in model.gate_shapes() if k.endswith("module")] == [
        f"layers.{i}.{n}.module" for i in range(3) for n in ("mhsa", "ffn1", "conv", "ffn2")
        if getattr(layers[i], n) is not None]
    for values in (gates.train()(), gates.eval()(), gates.keep_probs(), gates.deterministic()):
        assert {k: tuple(v.shape) for k, v in values.items()} == expected
    full = ConformerGates(model.config, GateConfig(hidden=True))
    assert full.shapes() == model.gate_shapes()
    assert "layers.2.mhsa.heads" not in full and "layers.1.ffn1.units" not in full


def test_model_runs_with_gates_in_train_and_eval():
    model, features, lengths = ConformerCTC(_hetero()), *_batch()
    gates = ConformerGates(model, GateConfig(hidden=True))
    model.train(), gates.train()
    out = model(features, lengths, gates=gates())
    loss = out.log_probs.logsumexp(-1).sum() + out.log_probs.mean()
    loss.backward()
    assert all(p.grad is not None for p in gates.log_alpha_parameters())
    model.eval(), gates.eval()
    with torch.no_grad():
        out = model(features, lengths, gates=gates())
    assert torch.isfinite(out.log_probs).all()


def test_switching_groups_off_removes_keys():
    cfg = _hetero()
    for group in ("heads", "mhsa", "ffn_units", "ffn", "conv_channels", "conv"):
        gates = ConformerGates(cfg, GateConfig(**{group: False}))
        assert len(gates) and all(gate_group(k) != group for k in gates)
        assert any(gate_group(k) == group for k in ConformerGates(cfg))
    assert "hidden" not in ConformerGates(cfg)
    off = {g: False for g in ("heads", "mhsa", "ffn_units", "ffn", "conv_channels", "conv")}
    empty = ConformerGates(cfg, GateConfig(**off))
    assert empty() == {} and empty.log_alpha_parameters() == []


def test_deterministic_is_repeatable_and_counts_agree():
    gates = ConformerGates(_hetero())
    with torch.no_grad():
        for p in gates.log_alpha_parameters():
            p.copy_(torch.randn_like(p) * 2)
    gates.eval()
    first, second = gates(), gates()
    assert all(torch.equal(first[k], second[k]) for k in first)
    counts = gates.kept_counts()
    assert counts == {k: int((v > 0).sum()) for k, v in first.items()}
    assert all(isinstance(c, int) for c in counts.values())


def test_keep_probs_are_differentiable_and_initialised_per_group():
    gates = ConformerGates(_hetero())
    probs = gates.keep_probs()
    assert torch.allclose(probs["layers.0.mhsa.heads"], torch.tensor(0.99), atol=0.01)
    assert torch.allclose(probs["layers.0.ffn1.units"], torch.tensor(0.83), atol=0.01)
    sum(p.sum() for p in probs.values()).backward()
    assert all(p.grad is not None for p in gates.log_alpha_parameters())
    assert gates["layers.0.mhsa.module"].n == 1


@pytest.mark.parametrize("bad, field", [
    ({"heads": 1}, "heads"), ({"init_keep_heads": 1.5}, "init_keep_heads"), ({"beta": 0.0}, "beta"),
    ({"stretch_left": 0.1}, "stretch_left"), ({"init_std": -1.0}, "init_std")])
def test_gate_config_rejects_bad_fields(bad, field):
    with pytest.raises(ConpruneError, match=field):
        GateConfig(**bad)


def test_gate_config_from_dict():
    assert GateConfig.from_dict({"hidden": True}).hidden and GateConfig.from_dict(None) == GateConfig()
    with pytest.raises(ConpruneError, match="unknown field"):
        GateConfig.from_dict({"head": False})


def test_gate_group_rejects_unknown_keys():
    assert gate_group("layers.3.ffn2.units") == "ffn_units" and gate_group("layers.0.conv.module") == "conv"
    for key in ("layers.0.mhsa.units", "foo", "layers.0.ffn3.module"):
        with pytest.raises(ConpruneError, match="unknown gate key"):
            gate_group(key)
