"""CTC decoding: greedy (always available) and beam search (needs flashlight-text).

Both return token ids with repeats collapsed and blanks removed; turning ids into text is the
tokenizer's job, so this module knows nothing about SentencePiece.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from conprune.errors import ConpruneError


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


def beam_search(log_probs: Tensor, lengths: Tensor, tokens: Sequence[str], beam_size: int = 16,
                blank: int = 0, lm: str | None = None, lm_weight: float = 0.5) -> list[list[int]]:
    """Lexicon-free CTC beam search via torchaudio's flashlight decoder (optional KenLM `lm` path).

    `tokens[i]` is the string of token id i. The flashlight decoder needs a word-boundary token;
    SentencePiece has none, so the blank doubles as it (standard lexicon-free practice).
    Raises ConpruneError when flashlight-text is not installed; use `greedy_decode` then.
    """
    try:
        from torchaudio.models.decoder import ctc_decoder
        decoder = ctc_decoder(lexicon=None, tokens=list(tokens), lm=lm, beam_size=beam_size,
                              lm_weight=lm_weight, blank_token=tokens[blank], sil_token=tokens[blank])
    except (ImportError, RuntimeError) as err:
        raise ConpruneError(f"beam search is unavailable ({err}); install flashlight-text "
                            f"(`pip install flashlight-text`) or use greedy decoding") from err
    hyps = decoder(log_probs.detach().float().cpu().contiguous(), lengths.detach().cpu().to(torch.int32))
    return [[int(t) for t in nbest[0].tokens] if nbest else [] for nbest in hyps]
