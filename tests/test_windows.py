"""Long recordings in windows: the windows cover the recording, and the stitched frames are the
recording's own output frames, each taken once, in order (checked with a model whose output frame
says which input frame it came from); a real model's short input is unaffected."""

from __future__ import annotations

import itertools

import pytest
import torch

from conprune.inference.windows import window_starts, windowed_log_probs
from conprune.models.config import SUBSAMPLING_STRIDES, subsampled


@pytest.mark.parametrize("factor", [4, 6, 8])
@pytest.mark.parametrize("frames", [50, 3000, 3001, 10_007])
def test_stitched_frames_are_the_recordings_frames(factor: int, frames: int) -> None:
    strides = SUBSAMPLING_STRIDES[factor]
    raw = torch.arange(frames, dtype=torch.float32)[:, None].repeat(1, 3)

    def run(feats: torch.Tensor) -> torch.Tensor:  # output frame j "is" input frame factor·j of its window
        n = int(subsampled(feats.shape[0], strides))
        return feats[torch.arange(n) * factor, :1]

    stitched = windowed_log_probs(run, raw, lambda x: x, window=1000, overlap=200, factor=factor)
    n = int(subsampled(frames, strides))
    assert stitched.shape[0] == n
    assert torch.equal(stitched[:, 0], torch.arange(n, dtype=torch.float32) * factor)


def test_window_starts() -> None:
    assert window_starts(900, 1000, 200, 4) == [0]
    starts = window_starts(5000, 1000, 200, 4)
    assert starts[0] == 0 and all(s % 4 == 0 for s in starts) and 5000 - starts[-1] >= 1000
    assert all(b - a == 800 for a, b in itertools.pairwise(starts))


def test_short_input_is_one_window(tiny_model) -> None:
    model = tiny_model().eval()
    raw = torch.randn(400, 80)
    with torch.no_grad():
        whole = model(raw[None], None).log_probs[0]
        windowed = windowed_log_probs(lambda f: model(f[None], None).log_probs[0], raw, lambda x: x, 3000, 400, 4)
    assert torch.equal(whole, windowed)
