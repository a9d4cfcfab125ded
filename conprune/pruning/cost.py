"""Analytic parameter and MAC counts of a Conformer-CTC config, exact and expected under gates.

One set of per-module polynomials serves both uses: fed plain ints they give the exact count of
a config (checked in tests against `sum(p.numel())` and `FlopCounterMode`); fed expected unit
counts (sums of keep-probabilities) they give the differentiable expected cost that the
Lagrangian pushes toward the sparsity target. Sharing the formulas is what makes the expected
cost of 0/1 keep-probabilities equal the exact cost of the pruned config.

MAC conventions (what `torch.utils.flop_counter.FlopCounterMode` counts, flops = 2 × MACs):
weights of every Linear/Conv (the front-end convs and linears, q/k/v/out, FFN fc1/fc2, conv
pw1/depthwise/pw2, the CTC head) and attention's Q·Kᵀ and A·V, each T'²·head_dim per head. With
pos_enc="rel_xl" also, per head, `linear_pos` over the 2T'−1 relative distances ((2T'−1)·d·head_dim,
projected once per utterance) and the position scores (q+v)·R, T'·(2T'−1)·head_dim.
Biases, norms, activations, softmax, GLU, RoPE, the rel_xl shift, residual and input scaling and
gating are elementwise and not counted.
Note: on CPU, PyTorch's fused `_scaled_dot_product_flash_attention_for_cpu` has no flop formula,
so FlopCounterMode only sees the T'² terms under `sdpa_kernel(SDPBackend.MATH)` (or on GPU).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig, subsampled
from conprune.models.gate_keys import MODULES, gate_shapes, module_key, unit_key

Num: TypeAlias = int | float | Tensor

FRAMES_PER_SECOND = 100  # 10 ms feature hop


def ref_frames(seconds: float) -> int:
    """Feature frames of a `seconds`-long clip: 1 + samples/hop (centred STFT), 10 s -> 1001."""
    return round(seconds * FRAMES_PER_SECOND) + 1


def output_frames(frames: int, strides: tuple[int, ...] = (2, 2)) -> int:
    """Frames after the unpadded front-end convs (×4 by default: T' = ((frames−1)//2 − 1)//2)."""
    return int(subsampled(frames, strides))


def _subsampling_cost(cfg: ConformerConfig, d: Num, frames: int) -> tuple[Num, Num]:
    """(params, MACs) of the front end: a 1→C k×k conv, then per further stride a full C→C k×k
    conv or a depthwise k×k + pointwise 1×1 pair, then the C·F'→d projection (k = 3 by default);
    or LASR's F→d linear, d→d and d→C kernel-k Conv1ds and C→d linear."""
    c, k = cfg.subsampling_channels, cfg.subsampling_kernel
    if cfg.subsampling == "conv1d":
        t1 = subsampled(frames, cfg.strides[:1], k)
        t2 = subsampled(t1, cfg.strides[1:], k)
        params = cfg.input_dim * d + d + k * d * d + d + k * d * c + c + c * d + d
        return params, frames * cfg.input_dim * d + t1 * k * d * d + t2 * k * d * c + t2 * c * d
    pad, kk = cfg.subsampling_padding, k * k
    t, f = subsampled(frames, cfg.strides[:1], k, pad), subsampled(cfg.input_dim, cfg.strides[:1], k, pad)
    params, macs = (kk + 1) * c, kk * c * t * f
    for stride in cfg.strides[1:]:
        t, f = subsampled(t, (stride,), k, pad), subsampled(f, (stride,), k, pad)
        if cfg.subsampling == "dw_striding":
            params, macs = params + (kk + 2) * c + c * c, macs + t * f * c * (kk + c)
        else:
            params, macs = params + kk * c * c + c, macs + kk * t * f * c * c
    return params + c * f * d + d, macs + t * c * f * d


def _norm(cfg: ConformerConfig, d: Num) -> Num:
    """Parameters of one LayerNorm over d channels."""
    return 2 * d if cfg.norm_bias else d


def _module_terms(cfg: ConformerConfig, name: str, d: Num, n: Num, t: int) -> tuple[Num, Num, Num]:
    """(fixed params, params of the n units, MACs) of one block module of width d with n units.

    The fixed part (pre-norm LayerNorm 2d + output bias d, each as the bias flags have them) exists
    iff the module does; every other weight and every MAC belongs to a unit (head, FFN unit, conv
    channel).
    """
    hd, k = cfg.head_dim, cfg.conv_kernel
    if name == "mhsa":  # q/k/v rows + biases, out columns; Q·Kᵀ and A·V are t²·hd per head
        bias = cfg.attn_bias
        fixed, per_unit = _norm(cfg, d) + (d if bias else 0), 4 * d * hd + (3 * hd if bias else 0)
        macs = t * n * (4 * d * hd + 2 * t * hd)
        if cfg.pos_enc == "rel_xl":  # linear_pos rows + pos_bias_u/v rows; R over 2t−1 distances, (q+v)·R
            return fixed, n * (per_unit + d * hd + 2 * hd), macs + n * (2 * t - 1) * hd * (d + t)
        return fixed, n * per_unit, macs
    if name == "conv":  # GLU pair of pw1 rows + biases, depthwise filter + bias, norm affine, pw2 column
        bias = cfg.conv_bias
        small = (3 if bias else 0) + (2 if cfg.conv_norm == "batchnorm" or cfg.norm_bias else 1)
        return _norm(cfg, d) + (d if bias else 0), n * (3 * d + k + small), t * n * (3 * d + k)
    bias = cfg.ffn_bias  # FFN: fc1 row + bias, fc2 column
    return _norm(cfg, d) + (d if bias else 0), n * (2 * d + (1 if bias else 0)), 2 * t * n * d


def _breakdown(cfg: ConformerConfig, d: Num, units: list[dict[str, tuple[Num, Num, Num]]],
               frames: int) -> dict[str, tuple[Num, Num]]:
    """(params, MACs) per module; `units[l][name]` = (P(module present), P(module gate), E[#units])."""
    if frames < cfg.min_input_frames:
        raise ConpruneError(f"MAC count needs at least {cfg.min_input_frames} input frames, got {frames}")
    t, v = int(cfg.subsampled_length(frames)), cfg.vocab_size
    out: dict[str, tuple[Num, Num]] = {"subsampling": _subsampling_cost(cfg, d, frames)}
    for i, layer in enumerate(units):
        for name, (present, scale, n) in layer.items():
            fixed, per_unit, macs = _module_terms(cfg, name, d, n, t)
            out[f"layers.{i}.{name}"] = (present * fixed + scale * per_unit, scale * macs)
        out[f"layers.{i}.norm_out"] = (_norm(cfg, d), 0)
    if cfg.final_norm:
        out["final_norm"] = (_norm(cfg, d), 0)
    out["head"] = (d * v + v, t * d * v)
    return out


def _exact_units(cfg: ConformerConfig) -> list[dict[str, tuple[Num, Num, Num]]]:
    return [{name: (1, 1, getattr(cfg, field)[i]) for name, (field, _) in MODULES.items()
             if getattr(cfg, field)[i]} for i in range(cfg.num_layers)]


def count_params(config: ConformerConfig) -> int:
    """Exactly `sum(p.numel() for p in ConformerCTC(config).parameters())`, without building it."""
    parts = _breakdown(config, config.d_model, _exact_units(config), config.min_input_frames)
    return int(sum(p for p, _ in parts.values()))


def count_macs(config: ConformerConfig, frames: int) -> int:
    """Multiply-accumulates of one forward pass over one utterance of `frames` input frames
    (batch 1, no padding), counted as in the module docstring."""
    return int(sum(m for _, m in _breakdown(config, config.d_model, _exact_units(config), frames).values()))



def module_unit_costs(config: ConformerConfig, frames: int) -> dict[str, tuple[tuple[float, float], float]]:
    """Block module name -> ((fixed params, params per unit), MACs per unit at `frames` input
    frames). Both are exact: a module's cost is linear in its unit count (MHSA's T² term is per
    head), and MACs have no fixed part."""
    t = int(config.subsampled_length(frames))
    out = {}
    for name in MODULES:
        fixed, per_unit, macs = _module_terms(config, name, config.d_model, 1, t)
        out[name] = ((float(fixed), float(per_unit)), float(macs))
    return out


def _check_keys(config: ConformerConfig, gates: Mapping[str, Tensor]) -> None:
    """Reject keys the model would reject, so a typo never silently counts as 'always kept'."""
    shapes = gate_shapes(config)
    for key, value in gates.items():
        if key not in shapes:
            raise ConpruneError(f"unknown gate {key!r} (absent module or typo); "
                                "see ConformerCTC.gate_shapes()")
        want = shapes[key]
        if tuple(value.shape) != want and not (want == () and value.numel() == 1):
            raise ConpruneError(f"gate {key!r} must have shape {list(want)}, got {list(value.shape)}")


def expected_units(cfg: ConformerConfig, keep: Mapping[str, Tensor],
                    dtype: torch.dtype) -> list[dict[str, tuple[Num, Num, Num]]]:
    """Per layer and module: (P(module present), P(module gate), E[#units]).

    A module exists in the pruned model only if its gate keeps it and at least one unit
    survives, so its fixed part is weighted by p_module·(1 − Π(1 − p_unit)); this keeps the
    0/1 case exact when every unit is dropped but the module gate is not.
    """
    layers = []
    for i in range(cfg.num_layers):
        layer: dict[str, tuple[Num, Num, Num]] = {}
        for name, (field, _) in MODULES.items():
            count = getattr(cfg, field)[i]
            if not count:
                continue
            module = keep.get(module_key(i, name))
            p_mod: Num = module.to(dtype).reshape(()) if module is not None else 1
            probs = keep.get(unit_key(i, name))
            if probs is None:
                layer[name] = (p_mod, p_mod, count)
            else:
                probs = probs.to(dtype)
                any_kept = 1 - torch.prod(1 - probs)
                layer[name] = (p_mod * any_kept, p_mod, probs.sum())
        layers.append(layer)
    return layers


def _dtype_device(keep: Mapping[str, Tensor]) -> tuple[torch.dtype, torch.device | None]:
    """At least float32 (half-precision sums of counts would be far off), on the gates' device."""
    first = next(iter(keep.values()), None)
    if first is None:
        return torch.float64, None
    return torch.promote_types(first.dtype, torch.float32), first.device


def _expected_total(config: ConformerConfig, keep: Mapping[str, Tensor], frames: int, column: int) -> Tensor:
    _check_keys(config, keep)
    dtype, device = _dtype_device(keep)
    hidden = keep.get("hidden")
    d: Num = hidden.to(dtype).sum() if hidden is not None else config.d_model
    parts = _breakdown(config, d, expected_units(config, keep, dtype), frames)
    total = sum(part[column] for part in parts.values())
    return total if isinstance(total, Tensor) else torch.tensor(float(total), dtype=dtype, device=device)


def expected_params(config: ConformerConfig, keep: Mapping[str, Tensor]) -> Tensor:
    """Expected parameter count when each gated unit/module is kept with the given probability.

    `keep` uses the model's gate keys (`ConformerCTC.gate_shapes()`); a missing key means always
    kept. Gates are treated as independent, so E[cost] is the count polynomial evaluated at the
    expected counts: module = P(kept)·(P(any unit kept)·fixed + per-unit·E[#units]), and a
    "hidden" gate replaces d_model by E[d] everywhere d appears (exact at 0/1 gates, whose
    compacted model has d_model = #kept channels; see `pruned_config`). Computed in at least float32 on the gates' device;
    pass float64 probabilities for counts beyond float32's 2²⁴ exact range.
    """
    return _expected_total(config, keep, config.min_input_frames, 0)


def expected_macs(config: ConformerConfig, keep: Mapping[str, Tensor], frames: int) -> Tensor:
    """Expected MACs of one `frames`-frame utterance under gate keep-probabilities (see
    `expected_params`); attention's T'² term is per head, hence linear in E[#heads]."""
    return _expected_total(config, keep, frames, 1)


def pruned_config(config: ConformerConfig, keep_masks: Mapping[str, Tensor]) -> ConformerConfig:
    """The smaller config left after removing every unit whose mask is 0 (nonzero = kept).

    A module whose module mask is 0, or whose units are all 0, gets count 0 (absent), exactly as
    compaction removes it; a "hidden" mask sets d_model to the number of kept channels.
    """
    _check_keys(config, keep_masks)
    counts: dict[str, object] = {field: list(getattr(config, field)) for field, _ in MODULES.values()}
    for i in range(config.num_layers):
        for name, (field, _) in MODULES.items():
            module = keep_masks.get(module_key(i, name))
            units = keep_masks.get(unit_key(i, name))
            if module is not None and not bool(module.reshape(()) != 0):
                counts[field][i] = 0  # type: ignore[index]
            elif units is not None:
                counts[field][i] = int((units != 0).sum())  # type: ignore[index]
    hidden = keep_masks.get("hidden")
    if hidden is not None:
        width = int((hidden != 0).sum())
        if width == 0:
            raise ConpruneError("the 'hidden' mask drops every model channel; keep at least one")
        counts["d_model"] = width
    return config.replace(**counts)
