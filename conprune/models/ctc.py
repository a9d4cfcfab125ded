"""Greedy CTC decoding (the evaluation protocol here: no LM, no beam).

It returns token ids with repeats collapsed and blanks removed; turning ids into text is the
tokenizer's job, so this module knows nothing about SentencePiece.
"""

from __future__ import annotations

import torch
from torch import Tensor


def greedy_decode(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """Best path per utterance: argmax per frame, collapse repeats, drop blanks.

    log_probs [B, T, V]; frames at or beyond each utterance's length are ignored.
    """
    best = log_probs.argmax(dim=-1).cpu()
    lengths = lengths.cpu()
    results = []
    for b in range(best.shape[0]):
        path = torch.unique_consecutive(best[b, : int(lengths[b])])
        results.append([int(t) for t in path if t != blank])
    return results
