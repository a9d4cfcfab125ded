"""The Conformer front ends: strided convolutions that shorten the feature sequence ×4, ×6 or ×8."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conprune.models.config import ConformerConfig, subsampled


class Subsampling(nn.Module):
    """3×3 convs + ReLU (a stride-2 one, then one per further stride), then a linear projection to
    d_model: ×4 (strides 2, 2), ×6 (2, 3) or ×8 (2, 2, 2, NeMo's FastConformer).

    `kind="conv2d"`: each later conv is a full C→C Conv2d. `kind="dw_striding"` (NeMo's Fast
    Conformer front end): a depthwise strided 3×3 conv + a 1×1 pointwise conv, 9× fewer MACs in
    that layer and much faster to train on a CPU, where the full Conv2d's backward dominated the
    demo model's step time (measured: docs/teacher.md). Both see the same receptive field and give
    the same output lengths. `kernel` replaces 3×3 by kernel×kernel.

    Unpadded (`padding=0`) convs only let valid outputs see valid inputs. Padded ones (Parakeet's
    front end, `padding=(kernel−1)//2`) would let the last valid outputs see padded frames, so
    `forward` zeroes every frame beyond each utterance's length before every strided conv: the
    batch then sees the zeros a lone utterance gets from the conv's own padding.
    """

    def __init__(self, input_dim: int, channels: int, d_model: int, kind: str = "conv2d",
                 strides: tuple[int, ...] = (2, 2), kernel: int = 3, padding: int = 0) -> None:
        super().__init__()
        self.strides, self.kernel, self.padding = tuple(strides), kernel, padding
        self.conv1 = nn.Conv2d(1, channels, kernel, stride=self.strides[0], padding=padding)
        for i, stride in enumerate(self.strides[1:], start=2):
            if kind == "dw_striding":
                conv = nn.Sequential(nn.Conv2d(channels, channels, kernel, stride=stride, padding=padding,
                                               groups=channels),
                                     nn.Conv2d(channels, channels, 1))
            else:
                conv = nn.Conv2d(channels, channels, kernel, stride=stride, padding=padding)
            self.add_module(f"conv{i}", conv)
        self.proj = nn.Linear(channels * int(subsampled(input_dim, self.strides, kernel, padding)), d_model)
        # Channels-last feature maps: oneDNN's CPU kernels for the 1-channel input conv, the ReLUs
        # and the depthwise conv are faster on them than on NCHW, in inference and in training
        # (measured: docs/benchmarks.md). Same values and state_dict; copies into these weights
        # keep the layout.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """x [B,T,F] features -> [B,T',d_model]; `lengths` [B] valid frames (None: all valid)."""
        x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        for i in range(1, len(self.strides) + 1):
            if self.padding and lengths is not None:
                x = x.masked_fill(~_valid(lengths, x.shape[2])[:, None, :, None], 0.0)
                lengths = subsampled(lengths, self.strides[i - 1:i], self.kernel, self.padding)
            x = F.relu_(self._conv(getattr(self, f"conv{i}"), x))
        b, c, t, f = x.shape
        return self.proj(x.transpose(1, 2).reshape(b, t, c * f))

    def _conv(self, conv: nn.Module, x: Tensor) -> Tensor:
        """One front-end conv on channels-last x. The ReLUs run in place, and the 1×1 pointwise conv
        of dw_striding is a matmul over the channels-last buffer: oneDNN's 1×1 conv and the extra
        activation copies were slower at batch 1 on a CPU, for the same values (measured:
        docs/benchmarks.md). An exported padded front end keeps the 1×1 Conv: the matmul's
        reshape there gives torch.export a guard it cannot prove for the padded lengths
        ((10·t') mod t' = 0 with t' = ⌊(T−1)/4⌋+1), so the time axis would not export dynamic."""
        if not isinstance(conv, nn.Sequential):
            return conv(x)
        depthwise, pointwise = conv
        y = depthwise(x)
        if self.padding and torch.compiler.is_exporting():
            return pointwise(y)
        b, c, t, f = y.shape
        rows = y.permute(0, 2, 3, 1).reshape(b * t * f, c)
        out = F.linear(rows, pointwise.weight.view(pointwise.out_channels, c), pointwise.bias)
        return out.view(b, t, f, -1).permute(0, 3, 1, 2)


class Conv1dSubsampling(nn.Module):
    """LASR's front end: a per-frame Linear F→d + ReLU, two unpadded strided Conv1d over time + ReLU
    (d→d, then d→C), and a Linear C→d. Unpadded and per-frame, so padding never reaches a valid
    frame; `lengths` is accepted for the common signature and unused."""

    def __init__(self, input_dim: int, channels: int, d_model: int, kernel: int = 5,
                 strides: tuple[int, ...] = (2, 2)) -> None:
        super().__init__()
        self.dense_in = nn.Linear(input_dim, d_model)
        self.conv1 = nn.Conv1d(d_model, d_model, kernel, stride=strides[0])
        self.conv2 = nn.Conv1d(d_model, channels, kernel, stride=strides[1])
        self.proj = nn.Linear(channels, d_model)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """x [B,T,F] features -> [B,T',d_model]."""
        h = F.relu(self.dense_in(x)).transpose(1, 2)
        h = F.relu(self.conv2(F.relu(self.conv1(h))))
        return self.proj(h.transpose(1, 2))


def make_subsampling(cfg: ConformerConfig) -> Subsampling | Conv1dSubsampling:
    """The front end `cfg` describes."""
    if cfg.subsampling == "conv1d":
        return Conv1dSubsampling(cfg.input_dim, cfg.subsampling_channels, cfg.d_model, cfg.subsampling_kernel,
                                 cfg.strides)
    return Subsampling(cfg.input_dim, cfg.subsampling_channels, cfg.d_model, cfg.subsampling, cfg.strides,
                       cfg.subsampling_kernel, cfg.subsampling_padding)


def _valid(lengths: Tensor, frames: int) -> Tensor:
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def output_lengths(lengths: Tensor, strides: tuple[int, ...] = (2, 2), kernel: int = 3, padding: int = 0) -> Tensor:
    """Exact frame count after the front-end (see `subsampled`), never negative; a config's own
    front end: `ConformerConfig.subsampled_length`."""
    return subsampled(lengths, strides, kernel, padding)
