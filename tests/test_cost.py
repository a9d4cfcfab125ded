"""The analytic cost model must match the real model: params exactly, MACs against FlopCounterMode,
and the expected (gated) cost must reduce to the exact cost of the pruned config at 0/1 gates."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.gate_keys import gate_shapes
from conprune.pruning.cost import (
    count_macs,
    count_params,
    expected_macs,
    expected_params,
    output_frames,
    pruned_config,
    ref_frames,
)

CONFIGS = {
    # layer 1: MHSA absent; layer 2: conv and ffn1 absent
    "batchnorm-rope": ConformerConfig(d_model=32, num_layers=3, vocab_size=29, heads=[2, 0, 3], head_dim=8,
                                      ffn1_dim=[64, 48, 0], ffn2_dim=[40, 56, 24], conv_channels=[32, 16, 0],
                                      input_dim=20, conv_kernel=7, subsampling_channels=16),
    "layernorm-abs": ConformerConfig(d_model=48, num_layers=2, vocab_size=17, heads=[4, 1], head_dim=6,
                                     ffn1_dim=[96, 8], ffn2_dim=[0, 72], conv_channels=[12, 48],
                                     input_dim=80, conv_kernel=15, subsampling_channels=24,
                                     conv_norm="layernorm", pos_enc="abs", subsampling="dw_striding"),
    # layer 1 is empty (only its output LayerNorm); odd input_dim exercises the frequency floors
    "none-empty-layer": ConformerConfig(d_model=40, num_layers=3, vocab_size=33, heads=[5, 0, 2], head_dim=4,
                                        ffn1_dim=[80, 0, 0], ffn2_dim=[0, 0, 60], conv_channels=[0, 0, 40],
                                        input_dim=23, conv_kernel=3, subsampling_channels=8, pos_enc="none"),
    # FastConformer-style 8x front end (three depthwise-separable stride-2 convs) and a full-conv 6x
    "dw-striding-8x": ConformerConfig(d_model=32, num_layers=2, vocab_size=65, heads=[2, 1], head_dim=8,
                                      ffn1_dim=[64, 16], ffn2_dim=[32, 0], conv_channels=[16, 32],
                                      input_dim=80, conv_kernel=7, subsampling_channels=12,
                                      subsampling="dw_striding", subsampling_factor=8),
    "conv2d-6x": ConformerConfig(d_model=24, num_layers=1, vocab_size=9, heads=[3], head_dim=8,
                                 ffn1_dim=[48], ffn2_dim=[24], conv_channels=[24], input_dim=41,
                                 conv_kernel=5, subsampling_channels=8, subsampling_factor=6),
    # Parakeet-like: rel_xl attention (linear_pos over 2T'-1 distances, Q·R), padded depthwise 8x
    # front end, input scaling, no linear or conv biases
    "parakeet-like": ConformerConfig(d_model=32, num_layers=3, vocab_size=29, heads=[2, 0, 4], head_dim=8,
                                     ffn1_dim=[64, 48, 0], ffn2_dim=[40, 56, 24], conv_channels=[32, 16, 0],
                                     input_dim=80, conv_kernel=9, subsampling_channels=8, pos_enc="rel_xl",
                                     subsampling="dw_striding", subsampling_factor=8, subsampling_padded=True,
                                     input_scale=32 ** 0.5, attn_bias=False, ffn_bias=False, conv_bias=False),
    # LASR-like: conv1d front end, bias-free norms and linears, residual weights, final norm, even kernel
    "lasr-like": ConformerConfig(d_model=24, num_layers=2, vocab_size=17, heads=[3, 1], head_dim=8,
                                 ffn1_dim=[48, 0], ffn2_dim=[24, 40], conv_channels=[24, 8], input_dim=40,
                                 conv_kernel=8, conv_padding="same", subsampling_channels=16, subsampling="conv1d",
                                 subsampling_kernel=5, attn_bias=False, ffn_bias=False, conv_bias=False,
                                 norm_bias=False, ffn_residual=[1.5, 0.5], conv_residual=[2.0, 1.0], final_norm=True),
    # rel_xl with biases, a padded full-conv 5×5 front end and a bias-free channel LayerNorm
    "rel-xl-padded-conv2d": ConformerConfig(d_model=16, num_layers=2, vocab_size=9, heads=[1, 2], head_dim=4,
                                            ffn1_dim=[16, 8], ffn2_dim=[0, 8], conv_channels=[8, 16], input_dim=23,
                                            conv_kernel=3, subsampling_channels=4, subsampling_kernel=5,
                                            subsampling_padded=True, pos_enc="rel_xl", conv_norm="layernorm",
                                            norm_bias=False, activation="relu"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_params_exact(name: str) -> None:
    cfg = CONFIGS[name]
    model = ConformerCTC(cfg)
    assert count_params(cfg) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("frames", [300, 1001])
def test_macs_match_flop_counter(name: str, frames: int) -> None:
    """MATH attention makes Q·Kᵀ and A·V visible as bmm (the fused CPU kernel has no flop formula)."""
    cfg = CONFIGS[name]
    model = ConformerCTC(cfg).eval()
    x = torch.randn(1, frames, cfg.input_dim)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, torch.tensor([frames]))
    measured = counter.get_total_flops() / 2
    assert count_macs(cfg, frames) == pytest.approx(measured, rel=0.01)


def test_reference_length_and_frames() -> None:
    cfg = CONFIGS["batchnorm-rope"]
    assert ref_frames(10.0) == 1001 and output_frames(1001) == 249 and output_frames(300) == 74
    with pytest.raises(ConpruneError, match="at least 7"):
        count_macs(cfg, 6)
    assert output_frames(1001, (2, 2, 2)) == 124 and output_frames(1001, (2, 3)) == 166
    assert CONFIGS["dw-striding-8x"].min_input_frames == 15 and CONFIGS["conv2d-6x"].min_input_frames == 7
    with pytest.raises(ConpruneError, match="at least 15"):
        count_macs(CONFIGS["dw-striding-8x"], 14)


def _random_masks(cfg: ConformerConfig, gen: torch.Generator, hidden: bool) -> dict[str, torch.Tensor]:
    masks = {}
    for key, shape in gate_shapes(cfg).items():
        if key == "hidden" and not hidden:
            continue
        if key.endswith(".module"):
            masks[key] = (torch.rand((), generator=gen) > 0.3).double()
        else:
            masks[key] = (torch.rand(shape, generator=gen) > torch.rand((), generator=gen)).double()
    if hidden:
        masks["hidden"][0] = 1.0  # keep at least one channel
    return masks


@pytest.mark.parametrize("name", CONFIGS)
def test_expected_equals_exact_at_binary_gates(name: str) -> None:
    cfg = CONFIGS[name]
    gen = torch.Generator().manual_seed(0)
    assert expected_params(cfg, {}).item() == count_params(cfg)
    assert expected_macs(cfg, {}, 300).item() == count_macs(cfg, 300)
    for trial in range(12):
        masks = _random_masks(cfg, gen, hidden=cfg.pos_enc not in ("abs", "rel_xl") and trial % 2 == 1)
        small = pruned_config(cfg, masks)
        assert expected_params(cfg, masks).item() == pytest.approx(count_params(small), abs=1e-6)
        assert expected_macs(cfg, masks, 300).item() == pytest.approx(count_macs(small, 300), abs=1e-6)
        assert count_params(small) == sum(p.numel() for p in ConformerCTC(small).parameters())


def test_module_kept_but_every_unit_dropped_is_absent() -> None:
    cfg = CONFIGS["batchnorm-rope"]
    masks = {"layers.0.mhsa.heads": torch.zeros(2), "layers.0.mhsa.module": torch.ones(())}
    small = pruned_config(cfg, masks)
    assert small.heads == [0, 0, 3]
    assert expected_params(cfg, masks).item() == count_params(small)


def test_float32_probabilities_close() -> None:
    cfg = CONFIGS["layernorm-abs"]
    masks = {k: v.float() for k, v in _random_masks(cfg, torch.Generator().manual_seed(1), False).items()}
    out = expected_macs(cfg, masks, 1001)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(count_macs(pruned_config(cfg, masks), 1001), rel=1e-6)


def _random_probs(cfg: ConformerConfig, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: (0.05 + 0.9 * torch.rand(shape, generator=gen, dtype=torch.float64)).requires_grad_()
            for k, shape in gate_shapes(cfg).items()}


@pytest.mark.parametrize("metric", ["params", "macs"])
def test_expected_cost_differentiable_and_monotone(metric: str) -> None:
    cfg = CONFIGS["batchnorm-rope"]
    keep = _random_probs(cfg, 2)

    def cost(k: dict[str, torch.Tensor]) -> torch.Tensor:
        return expected_params(cfg, k) if metric == "params" else expected_macs(cfg, k, 300)

    value = cost(keep)
    value.backward()
    for key, prob in keep.items():
        assert prob.grad is not None and torch.isfinite(prob.grad).all(), key
        assert (prob.grad > 0).all(), key  # every gate strictly increases the cost
    lower = cost({k: v.detach() * 0.5 for k, v in keep.items()})
    assert lower < value
    assert 0 < 1 - value / (count_params(cfg) if metric == "params" else count_macs(cfg, 300)) < 1
    for key in keep:  # lowering any single gate lowers the cost
        one = {k: v.detach() for k, v in keep.items()}
        one[key] = one[key] * 0.5
        assert cost(one) < value, key


def test_bad_keys_rejected() -> None:
    cfg = CONFIGS["batchnorm-rope"]
    with pytest.raises(ConpruneError, match="unknown gate"):
        expected_params(cfg, {"layers.1.mhsa.heads": torch.ones(2)})  # MHSA is absent in layer 1
    with pytest.raises(ConpruneError, match="shape"):
        expected_macs(cfg, {"layers.0.ffn1.units": torch.ones(3)}, 300)
    with pytest.raises(ConpruneError, match="hidden"):
        pruned_config(cfg, {"hidden": torch.zeros(32)})
