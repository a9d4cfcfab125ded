"""Conformer-CTC encoder built for structured pruning.

Every prunable unit is a contiguous slice of plain weights: a head is rows h·hd:(h+1)·hd of the
separate q/k/v projections and the same columns of `out`; an FFN unit is a row of `fc1` and a
column of `fc2`; a conv channel c is GLU rows (c, c+C) of `pw1`, depthwise filter c, norm entry
c and column c of `pw2`. Gates multiply exactly where a zero removes that slice's whole path,
so a gated model and its sliced copy compute the same function: heads before `out`, FFN units
after the activation, conv channels after the depthwise norm and SiLU (right before `pw2`), whole
modules on their residual branch. Exact with conv_norm="batchnorm"; "layernorm" over channels
(and the "hidden" gate, via the block LayerNorms) changes statistics when units are removed.

Padded frames never reach valid ones: the Conv2d front-end has no padding (valid outputs only
see valid inputs), attention masks padded keys, the conv module zeroes padded frames before the
depthwise conv, and BatchNorm's training statistics use valid frames only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.gate_keys import gate_shapes
from conprune.models.positions import rope_tables, rotate, sinusoid
from conprune.models.subsampling import Subsampling, output_lengths


class ModelOutput(NamedTuple):
    """`log_probs` [B,T',V] (float32 log-softmax), `lengths` [B] valid output frames,
    `hidden` the output of each block [B,T',d] (after its LayerNorm) when requested, else []."""

    log_probs: Tensor
    lengths: Tensor
    hidden: list[Tensor]


def attention_bias(valid: Tensor, over_queries: bool = False) -> Tensor:
    """Additive attention mask [B, 1, 1, T] from valid frames [B, T]: 0 on real keys, -inf on padding;
    [B, 1, T, T] with `over_queries` (what ONNX Runtime's opset-23 Attention kernel accepts).

    Computed once per forward, not per layer: a boolean mask costs every exported attention a
    Where and a NaN guard in ONNX Runtime (measured: docs/benchmarks.md). A zero-length
    utterance would give an all-masked softmax (NaN), so its first key always stays.
    """
    keys = valid | (torch.arange(valid.shape[1], device=valid.device)[None, :] == 0)
    bias = torch.zeros(keys.shape, dtype=torch.float32, device=valid.device)
    bias = bias.masked_fill(~keys, float("-inf"))[:, None, None, :]
    return bias.expand(-1, -1, valid.shape[1], -1) if over_queries else bias


class FeedForward(nn.Module):
    """LayerNorm → Linear d→f → SiLU → (unit gate) → Linear f→d; the block applies the ½."""

    def __init__(self, d_model: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.fc1, self.fc2 = nn.Linear(d_model, dim), nn.Linear(dim, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, units: Tensor | None = None) -> Tensor:
        h = F.silu(self.fc1(self.norm(x)))
        if units is not None:
            h = h * units
        return self.dropout(self.fc2(self.dropout(h)))


class SelfAttention(nn.Module):
    """Pre-norm MHSA with separate q/k/v/out projections so each head is a contiguous slice."""

    def __init__(self, d_model: int, heads: int, head_dim: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim, self.attn_dropout = heads, head_dim, attn_dropout
        self.norm = nn.LayerNorm(d_model)
        self.q, self.k, self.v = (nn.Linear(d_model, heads * head_dim) for _ in range(3))
        self.out = nn.Linear(heads * head_dim, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_bias: Tensor | None, rope: tuple[Tensor, Tensor] | None,
                heads: Tensor | None = None) -> Tensor:
        """`key_bias` [B, 1, 1, T] is 0 on real keys and -inf on padded ones (`attention_bias`); None
        when every key is real (SDPA's fastest path)."""
        b, t, _ = x.shape
        y = self.norm(x)
        q, k, v = (p(y).view(b, t, self.heads, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        mask = key_bias.to(q.dtype) if key_bias is not None else None
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        if heads is not None:
            a = a * heads.view(1, -1, 1, 1).to(a.dtype)
        return self.dropout(self.out(a.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)))


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics ignore padded frames (same state_dict as BatchNorm1d)."""

    def forward(self, x: Tensor, valid: Tensor | None) -> Tensor:  # type: ignore[override]
        if not self.training or valid is None:
            return super().forward(x)
        xf, m = x.float(), valid[:, None, :].float()  # statistics in fp32, also under autocast
        n = m.sum().clamp_min(1.0)
        mean = (xf * m).sum((0, 2)) / n
        var = ((xf - mean[:, None]) ** 2 * m).sum((0, 2)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                mom = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), mom)
                self.running_var.lerp_((var * n / (n - 1).clamp_min(1.0)).to(self.running_var.dtype), mom)
        y = (xf - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        if self.affine:
            y = y * self.weight[:, None] + self.bias[:, None]
        return y.to(x.dtype)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of [B, C, T] (the `conv_norm="layernorm"` option)."""

    def forward(self, x: Tensor, valid: Tensor | None) -> Tensor:  # type: ignore[override]
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvModule(nn.Module):
    """LayerNorm → pw1 d→2C → GLU → zero padding → depthwise → norm → SiLU → (channel gate) → pw2.

    The pointwise convs are `nn.Linear` on [B, T, C] (the same maths as a kernel-1 Conv1d, and
    faster to train on a CPU; measured: docs/teacher.md); only the depthwise conv and its norm
    work on [B, C, T].
    """

    def __init__(self, d_model: int, channels: int, kernel: int, norm: str, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.pw1 = nn.Linear(d_model, 2 * channels)
        self.dw = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.dw_norm = MaskedBatchNorm1d(channels) if norm == "batchnorm" else ChannelLayerNorm(channels)
        self.pw2 = nn.Linear(channels, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor | None, channels: Tensor | None = None) -> Tensor:
        """`valid` [B, T] marks real frames; None when every frame is real (nothing to zero)."""
        y = F.glu(self.pw1(self.norm(x)), dim=-1).transpose(1, 2)
        if valid is not None:
            y = y.masked_fill(~valid[:, None, :], 0.0)
        y = F.silu(self.dw_norm(self.depthwise(y), valid)).transpose(1, 2)
        if channels is not None:
            y = y * channels.to(y.dtype)
        return self.dropout(self.pw2(y))

    def depthwise(self, y: Tensor) -> Tensor:
        """`self.dw` on y [B, C, T], computed as a (K, 1) conv2d on the [B, C, T, 1] view of the
        [B, T, C] buffer, which is channels-last: no copy, and oneDNN's channels-last depthwise
        kernel is faster on a CPU than Conv1d's (forward and backward, same values). An exported
        graph keeps the Conv1d: ONNX Runtime's NCHW Conv runs the (K, 1) form slower (measured:
        docs/benchmarks.md)."""
        if torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
            return self.dw(y)
        out = F.conv2d(y.unsqueeze(-1), self.dw.weight.unsqueeze(-1), self.dw.bias,
                       padding=(self.dw.padding[0], 0), groups=self.dw.groups)
        return out.squeeze(-1)


class ConformerBlock(nn.Module):
    """½FFN → MHSA → Conv → ½FFN → LayerNorm; a module whose count is 0 is None and skipped."""

    def __init__(self, cfg: ConformerConfig, layer: int) -> None:
        super().__init__()
        d, p = cfg.d_model, cfg.dropout
        self.ffn1 = FeedForward(d, cfg.ffn1_dim[layer], p) if cfg.ffn1_dim[layer] else None
        self.mhsa = (SelfAttention(d, cfg.heads[layer], cfg.head_dim, p, cfg.attn_dropout)
                     if cfg.heads[layer] else None)
        self.conv = (ConvModule(d, cfg.conv_channels[layer], cfg.conv_kernel, cfg.conv_norm, p)
                     if cfg.conv_channels[layer] else None)
        self.ffn2 = FeedForward(d, cfg.ffn2_dim[layer], p) if cfg.ffn2_dim[layer] else None
        self.norm_out = nn.LayerNorm(d)

    def forward(self, x: Tensor, valid: Tensor | None, key_bias: Tensor | None, rope: tuple[Tensor, Tensor] | None,
                gates: Mapping[str, Tensor], prefix: str) -> Tensor:
        hidden = gates.get("hidden")

        def residual(x: Tensor, out: Tensor, name: str, scale: float) -> Tensor:
            module = gates.get(f"{prefix}{name}.module")
            if module is not None:
                out = out * module.to(out.dtype)
            if hidden is not None:
                out = out * hidden.to(out.dtype)
            return torch.add(x, out, alpha=scale)

        if self.ffn1 is not None:
            x = residual(x, self.ffn1(x, gates.get(f"{prefix}ffn1.units")), "ffn1", 0.5)
        if self.mhsa is not None:
            x = residual(x, self.mhsa(x, key_bias, rope, gates.get(f"{prefix}mhsa.heads")), "mhsa", 1.0)
        if self.conv is not None:
            x = residual(x, self.conv(x, valid, gates.get(f"{prefix}conv.channels")), "conv", 1.0)
        if self.ffn2 is not None:
            x = residual(x, self.ffn2(x, gates.get(f"{prefix}ffn2.units")), "ffn2", 0.5)
        x = self.norm_out(x)
        return x * hidden.to(x.dtype) if hidden is not None else x


class ConformerCTC(nn.Module):
    """Conformer encoder + linear CTC head (blank = 0), shaped entirely by a ConformerConfig."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.subsampling = Subsampling(config.input_dim, config.subsampling_channels, config.d_model,
                                       config.subsampling, config.strides)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(ConformerBlock(config, i) for i in range(config.num_layers))
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
        x = self.subsampling(features)
        t = x.shape[1]
        key_bias: Tensor | None = None
        if lengths is None:
            out_lengths = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            valid: Tensor | None = None
        else:
            out_lengths = output_lengths(lengths.to(features.device), cfg.strides)
            valid = torch.arange(t, device=x.device)[None, :] < out_lengths[:, None]
            key_bias = attention_bias(valid, over_queries=torch.compiler.is_exporting())
        if cfg.pos_enc == "abs":
            x = x + sinusoid(t, cfg.d_model, x.device).to(x.dtype)
        rope = rope_tables(t, cfg.head_dim, x.device) if cfg.pos_enc == "rope" else None
        if "hidden" in gates:
            x = x * gates["hidden"].to(x.dtype)
        x = self.dropout(x if valid is None else x.masked_fill(~valid[..., None], 0.0))
        hidden: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            x = layer(x, valid, key_bias, rope, gates, f"layers.{i}.")
            if return_hidden:
                hidden.append(x)
        return ModelOutput(self.head(x).float().log_softmax(dim=-1), out_lengths, hidden)

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
        return output_lengths(lengths, self.config.strides)

    def count_params(self) -> int:
        """Total parameter count (buffers such as BatchNorm running stats excluded)."""
        return sum(p.numel() for p in self.parameters())

    def param_breakdown(self) -> dict[str, int]:
        """Parameters per submodule: subsampling, layers.{l}.{ffn1,mhsa,conv,ffn2,norm_out}, head."""
        parts = {name: sum(p.numel() for p in module.parameters()) for name, module in self.named_modules()
                 if name in ("subsampling", "head") or (name.startswith("layers.") and name.count(".") == 2)}
        return {k: v for k, v in parts.items() if v}
