"""Honest latency measurement: warm-up, interleaved repeats, medians, fixed threads.

On a shared, noisy machine absolute times drift by tens of percent between minutes, so the
numbers we publish are *ratios* of models timed side by side in one process: every repeat runs
each candidate once in turn (A B A B ...), and the ratio of medians cancels most of the drift.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import torch
import torchaudio

from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC, attention_bias
from conprune.models.positions import rope_tables
from conprune.models.subsampling import output_lengths


def example_batch(seconds: float, batch: int = 1, input_dim: int = 80, seed: int = 0,
                  device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Random normalised features for `batch` utterances of `seconds` each (10 ms frames)."""
    frames = round(seconds * 100)
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, frames, input_dim, generator=gen).to(device)
    return feats, torch.full((batch,), frames, device=device)


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def side_by_side(fns: Mapping[str, Callable[[], object]], repeats: int = 10, warmup: int = 3,
                 device: torch.device | None = None) -> dict[str, dict[str, float]]:
    """Median/min wall seconds per call of each function, run interleaved under inference mode."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, fn in fns.items():
                _sync(device)
                start = time.perf_counter()
                fn()
                _sync(device)
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(t), "min_s": min(t)} for name, t in times.items()}


def model_call(model: ConformerCTC, feats: torch.Tensor, lengths: torch.Tensor) -> Callable[[], object]:
    """A zero-argument closure running the full model (front end, blocks, CTC head) in eval mode; an
    unpadded batch runs without lengths (no attention mask), as a deployed model would run it."""
    model.eval()
    given = None if bool((lengths == feats.shape[1]).all()) else lengths
    return lambda: model(feats, given)


def blocks_call(model: ConformerCTC, x: torch.Tensor, lengths: torch.Tensor) -> Callable[[], object]:
    """Only the Conformer blocks on already-subsampled input x [B, T', d] (for torchaudio parity)."""
    model.eval()
    t = x.shape[1]
    valid: torch.Tensor | None = torch.arange(t, device=x.device)[None, :] < lengths[:, None]
    rope = rope_tables(t, model.config.head_dim, x.device) if model.config.pos_enc == "rope" else None
    if bool(valid.all()):
        valid = None
    key_bias = None if valid is None else attention_bias(valid)

    def run() -> torch.Tensor:
        h = x
        for i, layer in enumerate(model.layers):
            h = layer(h, valid, key_bias, rope, {}, f"layers.{i}.")
        return h

    return run


def torchaudio_twin(config: ConformerConfig) -> torchaudio.models.Conformer:
    """torchaudio's Conformer with the same width, depth, heads, FFN size and conv kernel.

    Needs a uniform config with heads·head_dim = d_model and conv channels = d_model (torchaudio
    has no separate attention or conv widths).
    """
    heads, ffn = set(config.heads), set(config.ffn1_dim) | set(config.ffn2_dim)
    if len(heads) != 1 or len(ffn) != 1 or set(config.conv_channels) != {config.d_model} or \
            config.heads[0] * config.head_dim != config.d_model:
        raise ValueError("torchaudio_twin needs a dense uniform config with heads*head_dim == d_model")
    return torchaudio.models.Conformer(
        input_dim=config.d_model, num_heads=config.heads[0], ffn_dim=config.ffn1_dim[0],
        num_layers=config.num_layers, depthwise_conv_kernel_size=config.conv_kernel, dropout=0.0)


def dense_vs_torchaudio(config: ConformerConfig, seconds: float = 10.0, batch: int = 1, repeats: int = 10,
                        device: str = "cpu") -> dict[str, float]:
    """Blocks-only latency of our dense Conformer ÷ torchaudio's at equal dims, side by side."""
    dev = torch.device(device)
    ours = ConformerCTC(config).to(dev).eval()
    theirs = torchaudio_twin(config).to(dev).eval()
    frames = int(output_lengths(torch.tensor(round(seconds * 100)), config.strides))
    x = torch.randn(batch, frames, config.d_model, generator=torch.Generator().manual_seed(0)).to(dev)
    lengths = torch.full((batch,), frames, device=dev)
    timed = side_by_side({"conprune": blocks_call(ours, x, lengths), "torchaudio": lambda: theirs(x, lengths)},
                         repeats=repeats, device=dev)
    return {"conprune_s": timed["conprune"]["median_s"], "torchaudio_s": timed["torchaudio"]["median_s"],
            "dense_vs_torchaudio_ratio": timed["conprune"]["median_s"] / timed["torchaudio"]["median_s"]}
