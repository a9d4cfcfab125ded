"""The Conformer front end: strided 3×3 convolutions that shorten the feature sequence ×4, ×6 or ×8."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conprune.models.config import subsampled


class Subsampling(nn.Module):
    """Unpadded 3×3 convs + ReLU (a stride-2 one, then one per further stride), then a linear
    projection to d_model: ×4 (strides 2, 2), ×6 (2, 3) or ×8 (2, 2, 2, NeMo's FastConformer).

    `kind="conv2d"`: each later conv is a full C→C Conv2d. `kind="dw_striding"` (NeMo's Fast
    Conformer front end): a depthwise strided 3×3 conv + a 1×1 pointwise conv, 9× fewer MACs in
    that layer and much faster to train on a CPU, where the full Conv2d's backward dominated the
    demo model's step time (measured: docs/teacher.md). Both see the same receptive field and give
    the same output lengths.
    """

    def __init__(self, input_dim: int, channels: int, d_model: int, kind: str = "conv2d",
                 strides: tuple[int, ...] = (2, 2)) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.conv1 = nn.Conv2d(1, channels, 3, stride=self.strides[0])
        for i, stride in enumerate(self.strides[1:], start=2):
            if kind == "dw_striding":
                conv = nn.Sequential(nn.Conv2d(channels, channels, 3, stride=stride, groups=channels),
                                     nn.Conv2d(channels, channels, 1))
            else:
                conv = nn.Conv2d(channels, channels, 3, stride=stride)
            self.add_module(f"conv{i}", conv)
        self.proj = nn.Linear(channels * int(subsampled(input_dim, self.strides)), d_model)
        # Channels-last feature maps: oneDNN's CPU kernels for the 1-channel input conv, the ReLUs
        # and the depthwise conv are faster on them than on NCHW, in inference and in training
        # (measured: docs/benchmarks.md). Same values and state_dict; copies into these weights
        # keep the layout.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        """x [B,T,F] features -> [B,T',d_model]."""
        x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        for i in range(1, len(self.strides) + 1):
            x = F.relu_(self._conv(getattr(self, f"conv{i}"), x))
        b, c, t, f = x.shape
        return self.proj(x.transpose(1, 2).reshape(b, t, c * f))

    @staticmethod
    def _conv(conv: nn.Module, x: Tensor) -> Tensor:
        """One front-end conv on channels-last x. The ReLUs run in place, and the 1×1 pointwise conv
        of dw_striding is a matmul over the channels-last buffer: oneDNN's 1×1 conv and the extra
        activation copies were slower at batch 1 on a CPU, for the same values (measured:
        docs/benchmarks.md)."""
        if not isinstance(conv, nn.Sequential):
            return conv(x)
        depthwise, pointwise = conv
        y = depthwise(x)
        b, c, t, f = y.shape
        rows = y.permute(0, 2, 3, 1).reshape(b * t * f, c)
        out = F.linear(rows, pointwise.weight.view(pointwise.out_channels, c), pointwise.bias)
        return out.view(b, t, f, -1).permute(0, 3, 1, 2)


def output_lengths(lengths: Tensor, strides: tuple[int, ...] = (2, 2)) -> Tensor:
    """Exact frame count after the front-end (see `subsampled`), never negative."""
    return subsampled(lengths, strides)
