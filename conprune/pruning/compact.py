"""Physical compaction: deterministic gates -> a smaller ConformerCTC that computes the same thing.

The gated dense model multiplies soft gate values at exactly the places listed in conformer.py
(heads before `out`, FFN units before `fc2`, conv channels before `pw2`, whole modules on their
residual branch). Each kept value is therefore folded into the weights that read it (columns of
`out`/`fc2`/`pw2`, or the last linear's weight and bias for a module gate), and every unit whose
gate is exactly 0 is sliced away (q/k/v rows and `out` columns per head; `fc1` rows and `fc2`
columns; GLU row pairs (c, c+C) of `pw1`, depthwise filters, norm entries and `pw2` columns).
The new config is `pruned_config` of the nonzero masks, so the analytic cost of the sliced model
is the deterministic cost the pruning stage optimised.

A module whose gate is on but whose units are all 0 still adds a constant (its output bias) to
the residual stream; it is removed anyway (the cost model counts it absent) and that constant is
moved into the bias of whatever last wrote the stream (the previous module's output linear, the
previous block's output LayerNorm, or the front-end projection), divided by the residual weights
and input scale that bias has been multiplied by since, so removal stays exact. Per head, rel_xl's
`linear_pos` rows and `pos_bias_u`/`pos_bias_v` rows go with the q/k/v rows; a bias switched off by
the config is simply absent.

Exact with `conv_norm="batchnorm"`. With `"layernorm"` the channel LayerNorm's statistics span
all channels, so slicing *some* conv channels changes them: that is refused unless
`allow_inexact=True` (whole conv modules, heads and FFN units are exact either way). A non-unit
"hidden" gate is refused: removing model channels changes every block LayerNorm.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC, residual_weights
from conprune.models.gate_keys import MODULES
from conprune.pruning.cost import pruned_config

# Block module -> its output linear.
OUTPUT = {"ffn1": "fc2", "mhsa": "out", "conv": "pw2", "ffn2": "fc2"}


def compact(model: ConformerCTC, gates: Mapping[str, Tensor], *, allow_inexact: bool = False) -> ConformerCTC:
    """A new, physically smaller ConformerCTC equal to `model(x, lengths, gates=gates)` in eval mode.

    `gates` are deterministic gate values (`ConformerGates.deterministic()`): 0 removes a unit,
    any other value is folded into the following weights. The input model is not modified; the
    result has its own tensors on the same device/dtype and the input's train/eval mode.
    """
    config, state = compact_state(model, gates, allow_inexact=allow_inexact)
    small = ConformerCTC(config)
    small.load_state_dict(state, strict=True, assign=True)
    return small.train(model.training)


@torch.no_grad()
def compact_state(model: ConformerCTC, gates: Mapping[str, Tensor], *,
                  allow_inexact: bool = False) -> tuple[ConformerConfig, dict[str, Tensor]]:
    """(new config, state_dict) of the compacted model; see `compact` and the module docstring."""
    cfg = model.config
    gates = {k: v.detach() for k, v in gates.items()}
    _check_values(gates)
    new_cfg = pruned_config(cfg, {k: (v != 0).to(torch.float32) for k, v in gates.items()})
    if cfg.conv_norm == "layernorm" and not allow_inexact:
        _refuse_partial_layernorm_conv(cfg, new_cfg, gates)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    weights = residual_weights(cfg)
    # The bias that last wrote the residual stream and the factor one unit of it has in x now.
    writer: tuple[str | None, float] = ("subsampling.proj.bias", cfg.input_scale)
    for i in range(cfg.num_layers):
        for name, (field, unit) in MODULES.items():
            a, b = weights[name]
            writer = (writer[0], writer[1] * a)
            if not getattr(cfg, field)[i]:
                continue
            prefix = f"layers.{i}.{name}."
            out_w, out_b = f"{prefix}{OUTPUT[name]}.weight", f"{prefix}{OUTPUT[name]}.bias"
            module = gates.get(f"{prefix}module")
            g = module.reshape(()).to(state[out_w].dtype) if module is not None else None
            if getattr(new_cfg, field)[i] == 0:
                if out_b in state and (g is None or bool(g != 0)):  # units all 0, module on: only its bias reaches x
                    _move_constant(state, writer, b * (g if g is not None else 1.0) * state[out_b], prefix)
                for key in [k for k in state if k.startswith(prefix)]:
                    del state[key]
                continue
            values = gates.get(f"{prefix}{unit}")
            if values is not None:
                _slice_units(state, cfg, name, prefix, values.to(state[out_w].dtype))
            if g is not None:
                state[out_w] *= g
                if out_b in state:
                    state[out_b] *= g
            if out_b in state:
                writer = (out_b, b)
        writer = (f"layers.{i}.norm_out.bias", 1.0) if cfg.norm_bias else (None, 1.0)
    return new_cfg, state


def _move_constant(state: dict[str, Tensor], writer: tuple[str | None, float], constant: Tensor,
                   prefix: str) -> None:
    """Add a removed module's constant output to the bias that last wrote the residual stream,
    divided by the factor (residual weights since, the writer's own) that bias has in x now."""
    if writer[0] is None:
        raise ConpruneError(f"cannot remove {prefix.rstrip('.')}: every unit is pruned but its output bias "
                            "reaches the residual stream and no earlier bias in the block can take it; "
                            "drop the module with its module gate instead")
    state[writer[0]] += constant / writer[1]


def _check_values(gates: Mapping[str, Tensor]) -> None:
    for key, value in gates.items():
        if not torch.isfinite(value).all():
            raise ConpruneError(f"gate {key!r} has non-finite values; pass deterministic gate values "
                                "(ConformerGates.deterministic())")
    hidden = gates.get("hidden")
    if hidden is not None and not bool((hidden == 1).all()):
        raise ConpruneError("cannot compact a 'hidden' (model width) gate: removing model channels "
                            "changes every block LayerNorm; prune with gates.hidden: false")


def _refuse_partial_layernorm_conv(cfg: ConformerConfig, new_cfg: ConformerConfig,
                                   gates: Mapping[str, Tensor]) -> None:
    for i, (before, after) in enumerate(zip(cfg.conv_channels, new_cfg.conv_channels, strict=True)):
        if 0 < after < before:
            raise ConpruneError(
                f"layer {i}: slicing {before - after} of {before} conv channels is not exact with "
                "conv_norm='layernorm' (its statistics span every channel); prune conv channels only "
                "with conv_norm='batchnorm' (or gates.conv_channels: false), or accept the "
                "difference with allow_inexact=True")


def _fold_columns(weight: Tensor, keep: Tensor, values: Tensor) -> Tensor:
    """Columns `keep` of a Linear (or kernel-1 Conv1d) weight, each scaled by its gate value."""
    shape = (1, -1) + (1,) * (weight.dim() - 2)
    return (weight.index_select(1, keep) * values.view(shape)).contiguous()


def _slice_rows(state: dict[str, Tensor], keys: list[str], rows: Tensor) -> None:
    """Rows `rows` of each of `keys` that the model has (a bias switched off is absent)."""
    for key in keys:
        if key in state:
            state[key] = state[key].index_select(0, rows).contiguous()


def _slice_units(state: dict[str, Tensor], cfg: ConformerConfig, name: str, prefix: str,
                 values: Tensor) -> None:
    """Drop the units whose gate is 0 from one module; fold the kept values into the next weights."""
    keep = torch.nonzero(values != 0).flatten().to(state[f"{prefix}{OUTPUT[name]}.weight"].device)
    kept = values.to(keep.device).index_select(0, keep)
    if name == "mhsa":  # q/k/v (and linear_pos) rows, pos_bias_u/v rows, out columns per head
        hd = cfg.head_dim
        rows = (keep[:, None] * hd + torch.arange(hd, device=keep.device)).flatten()
        _slice_rows(state, [f"{prefix}{p}.{s}" for p in ("q", "k", "v", "linear_pos") for s in ("weight", "bias")],
                    rows)
        _slice_rows(state, [f"{prefix}pos_bias_u", f"{prefix}pos_bias_v"], keep)
        state[f"{prefix}out.weight"] = _fold_columns(state[f"{prefix}out.weight"], rows,
                                                     kept.repeat_interleave(hd))
    elif name == "conv":
        c = values.numel()
        _slice_rows(state, [f"{prefix}pw1.weight", f"{prefix}pw1.bias"], torch.cat([keep, keep + c]))
        per_channel = [k for k in state if k.startswith((f"{prefix}dw.", f"{prefix}dw_norm."))
                       and state[k].dim() >= 1 and state[k].shape[0] == c]
        _slice_rows(state, per_channel, keep)
        state[f"{prefix}pw2.weight"] = _fold_columns(state[f"{prefix}pw2.weight"], keep, kept)
    else:
        _slice_rows(state, [f"{prefix}fc1.weight", f"{prefix}fc1.bias"], keep)
        state[f"{prefix}fc2.weight"] = _fold_columns(state[f"{prefix}fc2.weight"], keep, kept)
