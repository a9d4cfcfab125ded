"""`conprune bench latency-table`: time each prunable structure as a function of its kept size.

On the device and thread count it will run on, one MHSA, FFN and conv module of the teacher's
width and options (positions, biases, activation, norms) is timed at every head count and at a grid
of FFN-unit and conv-channel counts, on `batch` utterances of `seconds` of audio (subsampled, as the
blocks see them), and the fixed rest (front end, block LayerNorms, final norm, CTC head, residual
scaling) as the teacher with every module removed. All entries are
timed interleaved in one loop, so machine noise hits them alike; the median of `repeats` is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from conprune.measure.latency import example_batch, side_by_side
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.modules import conv_module, feed_forward, self_attention
from conprune.pruning.latency_cost import MATCH, LatencyTable


def grid(full: int, points: int) -> list[int]:
    """`points` unit counts from 1 to `full`, evenly spread (every count when there are fewer)."""
    if full <= points:
        return list(range(1, full + 1))
    return sorted({max(1, round(full * i / (points - 1))) for i in range(points)})


def _fixed_model(config: ConformerConfig) -> ConformerCTC:
    zeros = [0] * config.num_layers
    return ConformerCTC(config.replace(heads=zeros, ffn1_dim=zeros, ffn2_dim=zeros, conv_channels=zeros))


def measure_latency_table(config: ConformerConfig, device: str = "cpu", threads: int = 1, batch: int = 1,
                          seconds: float = 10.0, repeats: int = 10, points: int = 9) -> LatencyTable:
    """The table for a model of `config` (its first layer's counts are the full sizes)."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    feats, _ = example_batch(seconds, batch, config.input_dim, device=dev)
    t = int(config.subsampled_length(feats.shape[1]))
    x = torch.randn(batch, t, config.d_model, generator=torch.Generator().manual_seed(1)).to(dev)
    valid = torch.ones(batch, t, dtype=torch.bool, device=dev)
    fixed = _fixed_model(config).to(dev).eval()
    positions = fixed.positions(t, dev)  # as the full model computes them once per forward
    full = {"mhsa": max(config.heads), "ffn": max(config.ffn1_dim + config.ffn2_dim), "conv": max(config.conv_channels)}
    quiet = config.replace(dropout=0.0, attn_dropout=0.0)
    fns: dict[str, Callable[[], object]] = {}
    for n in grid(full["mhsa"], full["mhsa"]):
        m = self_attention(quiet, n).to(dev).eval()
        fns[f"mhsa/{n}"] = lambda m=m: m(x, None, positions)
    for n in grid(full["ffn"], points):
        m = feed_forward(quiet, n).to(dev).eval()
        fns[f"ffn/{n}"] = lambda m=m: m(x)
    for n in grid(full["conv"], points):
        m = conv_module(quiet, n).to(dev).eval()
        fns[f"conv/{n}"] = lambda m=m: m(x, valid)
    fns["fixed"] = lambda: fixed(feats, None)
    timed = side_by_side(fns, repeats=repeats, device=dev)
    curves: dict[str, dict[str, list[float]]] = {}
    for name in full:
        keys = sorted((int(k.split("/")[1]), k) for k in timed if k.startswith(f"{name}/"))
        curves[name] = {"units": [float(n) for n, _ in keys], "seconds": [timed[k]["median_s"] for _, k in keys]}
    return LatencyTable(device=str(dev), threads=threads, batch=batch, seconds=seconds,
                        fixed_s=timed["fixed"]["median_s"], curves=curves,
                        shape={k: getattr(config, k) for k in (*MATCH, *ConformerConfig.family_options())}, torch_version=torch.__version__)
