"""Position encodings: sinusoidal (absolute, added once), rotary (RoPE, per head in attention) and
the Transformer-XL relative table (projected per head by rel_xl attention)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoid(length: int, dim: int, device: torch.device) -> Tensor:
    """Absolute sinusoidal position table [length, dim] (Vaswani et al.)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv)
    return table


def relative_table(length: int, dim: int, device: torch.device) -> Tensor:
    """Sinusoid table [2·length−1, dim] of the relative distances length−1, …, −(length−1) (row r is
    distance length−1−r), sin and cos interleaved per frequency: the table Parakeet's (and NeMo's)
    relative attention projects, computed with their formula so imported weights see the same
    numbers. `dim` must be even."""
    inv = 1.0 / (1e4 ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
    distance = torch.arange(length - 1, -length, -1, device=device).float()
    angles = distance[:, None] * inv
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(-1, dim)


def rope_tables(length: int, head_dim: int, device: torch.device, theta: float = 1e4) -> tuple[Tensor, Tensor]:
    """cos/sin tables [length, head_dim] for rotary embeddings (rotate-half layout) of base `theta`."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary position embedding of x [B, H, T, head_dim] with tables from `rope_tables`.

    Under torch.export (the ONNX export) it is one ONNX RotaryEmbedding node, the same values: one
    fused kernel in ONNX Runtime instead of a Slice/Neg/Concat/Mul/Add chain per call, which ran
    slower (measured: docs/benchmarks.md)."""
    half = x.shape[-1] // 2
    if torch.compiler.is_exporting():
        positions = torch.arange(x.shape[-2], device=x.device).expand(x.shape[0], -1)
        return torch.onnx.ops.rotary_embedding(x, cos[:, :half], sin[:, :half], positions)
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)
