"""The Conformer block's feed-forward and convolution modules, and builders of every block module
from a config (the block and the latency table build the same modules through them).

Each prunable unit is a contiguous slice of plain weights: an FFN unit is a row of `fc1` and a
column of `fc2`; a conv channel c is GLU rows (c, c+C) of `pw1`, depthwise filter c, norm entry c
and column c of `pw2`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conprune.models.attention import SelfAttention
from conprune.models.config import ConformerConfig

ACTIVATION: dict[str, Callable[[Tensor], Tensor]] = {"silu": F.silu, "relu": F.relu, "gelu": F.gelu}


class FeedForward(nn.Module):
    """LayerNorm → Linear d→f → activation → (unit gate) → Linear f→d; the block applies the
    residual weights (½ by default)."""

    def __init__(self, d_model: int, dim: int, dropout: float, *, bias: bool = True, activation: str = "silu",
                 norm_eps: float = 1e-5, norm_bias: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=norm_eps, bias=norm_bias)
        self.fc1, self.fc2 = nn.Linear(d_model, dim, bias=bias), nn.Linear(dim, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.act = ACTIVATION[activation]

    def forward(self, x: Tensor, units: Tensor | None = None) -> Tensor:
        h = self.act(self.fc1(self.norm(x)))
        if units is not None:
            h = h * units
        return self.dropout(self.fc2(self.dropout(h)))


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
    """LayerNorm → pw1 d→2C → GLU → zero padding → depthwise → norm → activation → (channel gate) → pw2.

    The pointwise convs are `nn.Linear` on [B, T, C] (the same maths as a kernel-1 Conv1d, and
    faster to train on a CPU; measured: docs/teacher.md); only the depthwise conv and its norm
    work on [B, C, T]. An even kernel pads as PyTorch's padding="same" does ((k−1)//2 frames
    before, k//2 after), what LASR's kernel-32 convs need; `dw` itself is then unpadded and
    `depthwise` pads explicitly (Conv1d's "same" warns and copies for even kernels anyway).
    """

    def __init__(self, d_model: int, channels: int, kernel: int, norm: str, dropout: float, *, bias: bool = True,
                 activation: str = "silu", norm_eps: float = 1e-5, norm_bias: bool = True, bn_eps: float = 1e-5,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=norm_eps, bias=norm_bias)
        self.pw1 = nn.Linear(d_model, 2 * channels, bias=bias)
        self.dw = nn.Conv1d(channels, channels, kernel, padding=kernel // 2 if kernel % 2 else 0,
                            groups=channels, bias=bias)
        self.same_pad = None if kernel % 2 else ((kernel - 1) // 2, kernel // 2)
        self.dw_norm = (MaskedBatchNorm1d(channels, eps=bn_eps, momentum=bn_momentum) if norm == "batchnorm"
                        else ChannelLayerNorm(channels, eps=norm_eps, bias=norm_bias))
        self.pw2 = nn.Linear(channels, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.act = ACTIVATION[activation]

    def forward(self, x: Tensor, valid: Tensor | None, channels: Tensor | None = None) -> Tensor:
        """`valid` [B, T] marks real frames; None when every frame is real (nothing to zero)."""
        y = F.glu(self.pw1(self.norm(x)), dim=-1).transpose(1, 2)
        if valid is not None:
            y = y.masked_fill(~valid[:, None, :], 0.0)
        y = self.act(self.dw_norm(self.depthwise(y), valid)).transpose(1, 2)
        if channels is not None:
            y = y * channels.to(y.dtype)
        return self.dropout(self.pw2(y))

    def depthwise(self, y: Tensor) -> Tensor:
        """`self.dw` on y [B, C, T], computed as a (K, 1) conv2d on the [B, C, T, 1] view of the
        [B, T, C] buffer, which is channels-last: no copy, and oneDNN's channels-last depthwise
        kernel is faster on a CPU than Conv1d's (forward and backward, same values). An exported
        graph keeps the Conv1d: ONNX Runtime's NCHW Conv runs the (K, 1) form slower (measured:
        docs/benchmarks.md)."""
        if self.same_pad is not None:  # even kernel: pad the [B, T, C] buffer, so y stays its view
            y = F.pad(y.transpose(1, 2), (0, 0, *self.same_pad)).transpose(1, 2)
        if torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
            return self.dw(y)
        out = F.conv2d(y.unsqueeze(-1), self.dw.weight.unsqueeze(-1), self.dw.bias,
                       padding=(self.dw.padding[0], 0), groups=self.dw.groups)
        return out.squeeze(-1)


def self_attention(cfg: ConformerConfig, heads: int) -> SelfAttention:
    """The MHSA module of a `cfg` model with `heads` heads."""
    return SelfAttention(cfg.d_model, heads, cfg.head_dim, cfg.dropout, cfg.attn_dropout, rel_xl=cfg.pos_enc == "rel_xl",
                         bias=cfg.attn_bias, norm_eps=cfg.norm_eps, norm_bias=cfg.norm_bias)


def feed_forward(cfg: ConformerConfig, dim: int) -> FeedForward:
    """A feed-forward module of a `cfg` model with `dim` hidden units."""
    return FeedForward(cfg.d_model, dim, cfg.dropout, bias=cfg.ffn_bias, activation=cfg.activation,
                       norm_eps=cfg.norm_eps, norm_bias=cfg.norm_bias)


def conv_module(cfg: ConformerConfig, channels: int) -> ConvModule:
    """The convolution module of a `cfg` model with `channels` channels."""
    return ConvModule(cfg.d_model, channels, cfg.conv_kernel, cfg.conv_norm, cfg.dropout, bias=cfg.conv_bias,
                      activation=cfg.activation, norm_eps=cfg.norm_eps, norm_bias=cfg.norm_bias, bn_eps=cfg.bn_eps,
                      bn_momentum=cfg.bn_momentum)
