"""Conformer-CTC encoder built for structured pruning.

Every prunable unit is a contiguous slice of plain weights: a head is rows h·hd:(h+1)·hd of the
separate q/k/v projections (and of rel_xl's `linear_pos`, `pos_bias_u`, `pos_bias_v`) and the same
columns of `out`; an FFN unit is a row of `fc1` and a column of `fc2`; a conv channel c is GLU rows
(c, c+C) of `pw1`, depthwise filter c, norm entry c and column c of `pw2`. Gates multiply exactly
where a zero removes that slice's whole path, so a gated model and its sliced copy compute the same
function: heads before `out`, FFN units after the activation, conv channels after the depthwise
norm and activation (right before `pw2`), whole modules on their residual branch. Exact with
conv_norm="batchnorm"; "layernorm" over channels (and the "hidden" gate, via the block LayerNorms)
changes statistics when units are removed.

Padded frames never reach valid ones: the unpadded front ends only let valid outputs see valid
inputs and the padded one zeroes padded frames before every conv, attention masks padded keys, the
conv module zeroes padded frames before the depthwise conv, and BatchNorm's training statistics
use valid frames only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn

from conprune.errors import ConpruneError
from conprune.models.attention import SelfAttention, attention_bias
from conprune.models.config import ConformerConfig
from conprune.models.gate_keys import MODULES, gate_shapes
from conprune.models.modules import (
    ConvModule,
    FeedForward,
    MaskedBatchNorm1d,
    conv_module,
    feed_forward,
    self_attention,
)
from conprune.models.positions import relative_table, rope_tables, sinusoid
from conprune.models.subsampling import make_subsampling

__all__ = ["ConformerBlock", "ConformerCTC", "ConvModule", "FeedForward", "MaskedBatchNorm1d", "ModelOutput",
           "SelfAttention", "attention_bias"]


class ModelOutput(NamedTuple):
    """`log_probs` [B,T',V] (float32 log-softmax), `lengths` [B] valid output frames,
    `hidden` the output of each block [B,T',d] (after its LayerNorm) when requested, else []."""

    log_probs: Tensor
    lengths: Tensor
    hidden: list[Tensor]


def residual_weights(cfg: ConformerConfig) -> dict[str, tuple[float, float]]:
    """Block module -> (a, b) of its residual x ← a·x + b·module(x); x ← a·x when it is absent."""
    ffn = (float(cfg.ffn_residual[0]), float(cfg.ffn_residual[1]))
    conv = (float(cfg.conv_residual[0]), float(cfg.conv_residual[1]))
    return {"ffn1": ffn, "mhsa": (1.0, 1.0), "conv": conv, "ffn2": ffn}


class ConformerBlock(nn.Module):
    """½FFN → MHSA → Conv → ½FFN → LayerNorm; a module whose count is 0 is None and skipped (its
    residual weight a still scales x, so removing a module equals gating it to 0)."""

    def __init__(self, cfg: ConformerConfig, layer: int) -> None:
        super().__init__()
        self.ffn1 = feed_forward(cfg, cfg.ffn1_dim[layer]) if cfg.ffn1_dim[layer] else None
        self.mhsa = self_attention(cfg, cfg.heads[layer]) if cfg.heads[layer] else None
        self.conv = conv_module(cfg, cfg.conv_channels[layer]) if cfg.conv_channels[layer] else None
        self.ffn2 = feed_forward(cfg, cfg.ffn2_dim[layer]) if cfg.ffn2_dim[layer] else None
        self.norm_out = nn.LayerNorm(cfg.d_model, eps=cfg.norm_eps, bias=cfg.norm_bias)
        self.weights = residual_weights(cfg)

    def forward(self, x: Tensor, valid: Tensor | None, key_bias: Tensor | None,
                positions: tuple[Tensor, Tensor] | Tensor | None, gates: Mapping[str, Tensor], prefix: str) -> Tensor:
        """`positions`: what attention needs (RoPE tables, the rel_xl table, or None)."""
        hidden = gates.get("hidden")

        def residual(x: Tensor, out: Tensor, name: str) -> Tensor:
            module = gates.get(f"{prefix}{name}.module")
            if module is not None:
                out = out * module.to(out.dtype)
            if hidden is not None:
                out = out * hidden.to(out.dtype)
            a, b = self.weights[name]
            return torch.add(x if a == 1.0 else x * a, out, alpha=b)

        for name in MODULES:  # forward order
            module = getattr(self, name)
            if module is None:
                a = self.weights[name][0]
                x = x if a == 1.0 else x * a
            elif name == "mhsa":
                x = residual(x, module(x, key_bias, positions, gates.get(f"{prefix}mhsa.heads")), name)
            elif name == "conv":
                x = residual(x, module(x, valid, gates.get(f"{prefix}conv.channels")), name)
            else:
                x = residual(x, module(x, gates.get(f"{prefix}{name}.units")), name)
        x = self.norm_out(x)
        return x * hidden.to(x.dtype) if hidden is not None else x


class ConformerCTC(nn.Module):
    """Conformer encoder + linear CTC head (blank = 0), shaped entirely by a ConformerConfig."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.subsampling = make_subsampling(config)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(ConformerBlock(config, i) for i in range(config.num_layers))
        self.final_norm = (nn.LayerNorm(config.d_model, eps=config.norm_eps, bias=config.norm_bias)
                           if config.final_norm else None)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, features: Tensor, lengths: Tensor | None, gates: Mapping[str, Tensor] | None = None,
                return_hidden: bool = False) -> ModelOutput:
        """features [B,T,input_dim] (zero or garbage padded), lengths [B] valid input frames, or None
        when no frame is padding (then attention runs without a mask, SDPA's fastest path).

        No branch depends on tensor values, so `torch.export` traces one graph for any length.

        `gates` keys (all optional, see `gate_shapes()`): "layers.{l}.mhsa.heads" [H],
        "layers.{l}.{ffn1,ffn2}.units" [f], "layers.{l}.conv.channels" [C],
        "layers.{l}.{mhsa,ffn1,ffn2,conv}.module" scalar, "hidden" [d_model].
        """
        cfg = self.config
        if features.dim() != 3 or features.shape[-1] != cfg.input_dim:
            raise ConpruneError(f"model input must be [batch, time, {cfg.input_dim}] features, "
                                f"got shape {tuple(features.shape)}")
        if features.shape[1] < cfg.min_input_frames:
            raise ConpruneError(f"model input needs at least {cfg.min_input_frames} frames, "
                                f"got {features.shape[1]}")
        gates = self._checked(gates)
        lengths = lengths.to(features.device) if lengths is not None else None
        x = self.subsampling(features, lengths)
        if cfg.input_scale != 1.0:
            x = x * cfg.input_scale
        t = x.shape[1]
        key_bias: Tensor | None = None
        if lengths is None:
            out_lengths = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            valid: Tensor | None = None
        else:
            out_lengths = cfg.subsampled_length(lengths)
            valid = torch.arange(t, device=x.device)[None, :] < out_lengths[:, None]
            key_bias = attention_bias(valid, over_queries=torch.compiler.is_exporting())
        if cfg.pos_enc == "abs":
            x = x + sinusoid(t, cfg.d_model, x.device).to(x.dtype)
        positions = self.positions(t, x.device)
        if "hidden" in gates:
            x = x * gates["hidden"].to(x.dtype)
        x = self.dropout(x if valid is None else x.masked_fill(~valid[..., None], 0.0))
        hidden: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            x = layer(x, valid, key_bias, positions, gates, f"layers.{i}.")
            if return_hidden:
                hidden.append(x)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return ModelOutput(self.head(x).float().log_softmax(dim=-1), out_lengths, hidden)

    def positions(self, frames: int, device: torch.device) -> tuple[Tensor, Tensor] | Tensor | None:
        """What every attention layer needs for `frames` subsampled frames: the RoPE (cos, sin)
        tables, the rel_xl relative table [2·frames−1, d_model], or None."""
        cfg = self.config
        if cfg.pos_enc == "rope":
            return rope_tables(frames, cfg.head_dim, device, cfg.rope_theta)
        return relative_table(frames, cfg.d_model, device) if cfg.pos_enc == "rel_xl" else None

    def gate_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every gate key this model accepts and its shape; () is a scalar (shape [1] also accepted)."""
        return gate_shapes(self.config)

    def _checked(self, gates: Mapping[str, Tensor] | None) -> Mapping[str, Tensor]:
        if not gates:
            return {}
        shapes = self.gate_shapes()
        for key, value in gates.items():
            if key not in shapes:
                raise ConpruneError(f"unknown gate {key!r} (absent module or typo); see gate_shapes()")
            want = shapes[key]
            if tuple(value.shape) != want and not (want == () and value.numel() == 1):
                raise ConpruneError(f"gate {key!r} must have shape {list(want)}, got {list(value.shape)}")
        return gates

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Valid output frames for `lengths` valid input frames."""
        return self.config.subsampled_length(lengths)

    def count_params(self) -> int:
        """Total parameter count (buffers such as BatchNorm running stats excluded)."""
        return sum(p.numel() for p in self.parameters())

    def param_breakdown(self) -> dict[str, int]:
        """Parameters per submodule: subsampling, layers.{l}.{ffn1,mhsa,conv,ffn2,norm_out},
        final_norm (when present), head."""
        parts = {name: sum(p.numel() for p in module.parameters()) for name, module in self.named_modules()
                 if name in ("subsampling", "final_norm", "head")
                 or (name.startswith("layers.") and name.count(".") == 2)}
        return {k: v for k, v in parts.items() if v}
