"""Norms of the conv module's depthwise output [B, C, T], with padded frames kept out of the statistics."""

from __future__ import annotations

import torch
from torch import Tensor, nn


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

    def folded_into(self, weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
        """The (weight, bias) of a conv followed by this norm in eval, as one conv: the norm's
        running statistics and affine folded in (exact up to float rounding)."""
        scale = torch.rsqrt(self.running_var + self.eps)
        if self.affine:
            scale = scale * self.weight
        shift = -self.running_mean * scale + (self.bias if self.affine else 0.0)
        folded_bias = shift if bias is None else bias * scale + shift
        return weight * scale.view(-1, *([1] * (weight.dim() - 1))), folded_bias


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of [B, C, T] (the `conv_norm="layernorm"` option)."""

    def forward(self, x: Tensor, valid: Tensor | None) -> Tensor:  # type: ignore[override]
        return super().forward(x.transpose(1, 2)).transpose(1, 2)
