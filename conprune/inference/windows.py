"""Long recordings in overlapping windows, stitched at the frame level before CTC decoding.

Full attention over a whole hour costs time and memory quadratic in its length. Instead the
features are cut into windows of `window` frames that overlap by `overlap` frames; each window is
normalised on its own (per-utterance CMN sees window-sized stretches, as in training) and run
through the model; from each overlap the frames before its middle come from the earlier window
and the rest from the later one, so every kept frame has context on both sides. Window starts are
multiples of the subsampling factor, so a window's output frame j is exactly output frame
start/factor + j of the whole recording and the stitched log-probabilities line up frame by frame.
Greedy CTC decoding then runs once over the stitched sequence.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def window_starts(frames: int, window: int, overlap: int, factor: int) -> list[int]:
    """Start frames of the windows covering `frames` input frames (the last one ends at the end)."""
    if frames <= window:
        return [0]
    hop = max(factor, (window - overlap) // factor * factor)
    starts = list(range(0, frames - window, hop))
    last = (frames - window) // factor * factor
    if starts[-1] != last:
        starts.append(last)
    return starts


def windowed_log_probs(run: Callable[[Tensor], Tensor], raw: Tensor, normalise: Callable[[Tensor], Tensor],
                       window: int, overlap: int, factor: int) -> Tensor:
    """Stitched log-probabilities [T', V] of raw features [T, F]: `run` maps normalised window
    features [t, F] to log-probabilities [t', V]."""
    starts = window_starts(raw.shape[0], window, overlap, factor)
    pieces, done = [], 0  # `done`: output frames already taken
    for k, start in enumerate(starts):
        last = k + 1 == len(starts)
        out = run(normalise(raw[start:] if last else raw[start:start + window]))
        first = start // factor
        if not last:
            cut = (starts[k + 1] + start + window) // 2 // factor  # middle of the overlap, in output frames
            piece = out[done - first:cut - first]
            done = cut
        else:
            piece = out[done - first:]
        pieces.append(piece)
    return torch.cat(pieces)
