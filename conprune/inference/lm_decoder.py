"""Beam-search CTC decoding with an n-gram language model: torchaudio's `ctc_decoder`.

The search is flashlight-text's (torchaudio.models.decoder; `pip install 'conprune[lm]'`), KenLM
included, so conprune writes no decoder of its own: this module maps a model's tokenizer onto it
and checks that an LM fits. What the LM's vocabulary holds picks the kind of search:

- words (a word n-gram, `make lm`, LibriSpeech's 4-gram): lexicon decoding. Each LM word is spelled
  with the model's own tokenizer (`Tokenizer.encode`, so SentencePiece's '▁' marks where a word
  starts), the search emits LM words only and adds `word_score` per word. The CTC blank doubles as
  flashlight's silence token, as fairseq's decoder does for word-piece models (which have no '|').
- the tokenizer's pieces (a piece n-gram): lexicon-free decoding, scored piece by piece, which can
  spell a word the LM never saw; flashlight has no word score there.
- no LM: lexicon-free beam search on the acoustic scores alone.

An LM is a KenLM binary or an ARPA file (plain or gzipped); its words are read by
`conprune.data.ngram_lm.lm_vocabulary`.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from conprune.data.ngram_lm import SPECIAL_WORDS, lm_vocabulary
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError, first_line

BLANK_LABEL = "<blank>"
# A word LM may hold a few words the tokenizer cannot spell (a stray symbol); they are left out of
# the lexicon. More than this share means the LM was made for other text (lower case, another
# alphabet) and every hypothesis would be wrong, so it is refused.
MAX_UNSPELLABLE = 0.01
# Search widths, chosen on dev for speed (bench/lm_decoding_cpu.jsonl): at these the search costs
# less time per audio second than the acoustic model of the -50 % params student on 1 thread.
DEFAULT_BEAM = 64
DEFAULT_BEAM_TOKEN = 8
DEFAULT_BEAM_THRESHOLD = 25.0


@dataclass(frozen=True)
class BeamSettings:
    """The search's widths and the LM's weights (`lm_weight` scales the LM log-probability,
    `word_score` is added per emitted word)."""

    beam: int = DEFAULT_BEAM
    beam_token: int = DEFAULT_BEAM_TOKEN
    beam_threshold: float = DEFAULT_BEAM_THRESHOLD
    lm_weight: float = 1.0
    word_score: float = 0.0

    def __post_init__(self) -> None:
        for name in ("beam", "beam_token"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConpruneError(f"--{name.replace('_', '-')}: must be an integer >= 1, got {value!r}")
        for name in ("beam_threshold", "lm_weight", "word_score"):
            if not math.isfinite(getattr(self, name)):
                raise ConpruneError(f"--{name.replace('_', '-')}: must be a finite number, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def token_labels(tokenizer: Tokenizer) -> list[str]:
    """A label per CTC output (id 0 is the blank): the SentencePiece piece or tokenizer.json token,
    so a piece LM's words can be matched to outputs."""
    if tokenizer.hf is not None:
        from tokenizers import Tokenizer as Backend

        backend = Backend.from_str(tokenizer.model_proto.decode("utf-8"))
        names = [backend.id_to_token(tokenizer.hf.to_hf(i)) for i in range(1, tokenizer.vocab_size)]
    else:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_proto=tokenizer.model_proto)
        names = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    return [BLANK_LABEL, *names]


def spell(words: list[str], tokenizer: Tokenizer, labels: list[str], where: str) -> dict[str, list[str]]:
    """Lexicon: each word's spelling in token labels. A word the tokenizer cannot spell exactly
    (its decode differs, or it needs <unk>) is left out; too many of them is an error."""
    lexicon, bad = {}, []
    for word in words:
        if word in SPECIAL_WORDS:
            continue
        ids = tokenizer.encode(word)
        if not ids or tokenizer.unk_id in ids or tokenizer.decode(ids) != word:
            bad.append(word)
            continue
        lexicon[word] = [labels[i] for i in ids]
    if not lexicon or len(bad) > MAX_UNSPELLABLE * (len(lexicon) + len(bad)):
        raise ConpruneError(f"{where}: {len(bad)} of {len(lexicon) + len(bad)} LM words (e.g. {bad[0]!r}) do not fit "
                            "the model's tokenizer: the LM must be trained on text written like the transcripts "
                            "(upper case A-Z and apostrophes)")
    return lexicon


class BeamDecoder:
    """Turns log-probabilities [B, T, V] into text with torchaudio's beam search and an optional LM.

    `kind` is "lexicon" (word LM), "lexicon-free" (piece LM, or none); `seconds` adds up the time
    spent searching, which the evaluation reports per second of audio.
    """

    def __init__(self, tokenizer: Tokenizer, lm: str | Path | None, settings: BeamSettings) -> None:
        try:
            from torchaudio.models.decoder import ctc_decoder
        except (ImportError, RuntimeError) as exc:  # torchaudio raises RuntimeError without flashlight-text
            raise ConpruneError(f"beam search needs flashlight-text ({first_line(exc)}): pip install "
                                "'conprune[lm]', or use --decoder greedy") from None
        self.tokenizer, self.settings, self.lm = tokenizer, settings, str(lm) if lm else None
        labels = token_labels(tokenizer)
        words = lm_vocabulary(lm) if lm else []
        pieces = set(labels[1:])
        piece_lm = all(w in pieces for w in words if w not in SPECIAL_WORDS)
        self.kind = "lexicon" if lm and not piece_lm else "lexicon-free"
        self.seconds = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            lexicon = None
            if self.kind == "lexicon":
                lexicon = Path(tmp) / "lexicon.txt"
                entries = spell(words, tokenizer, labels, f"LM file {lm}")
                lexicon.write_text("".join(f"{w} {' '.join(s)}\n" for w, s in entries.items()), encoding="utf-8")
            try:
                self._search = ctc_decoder(
                    lexicon=str(lexicon) if lexicon else None, tokens=labels, lm=self.lm, beam_size=settings.beam,
                    beam_size_token=min(settings.beam_token, len(labels)), beam_threshold=settings.beam_threshold,
                    lm_weight=settings.lm_weight, word_score=settings.word_score,
                    blank_token=BLANK_LABEL, sil_token=BLANK_LABEL)
            except (RuntimeError, ValueError) as exc:  # KenLM's message: where it threw, then why
                why = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
                raise ConpruneError(f"LM file {lm} cannot be loaded by KenLM ({why[-1].strip()[:160]}): it is corrupt "
                                    "or not an n-gram model; rebuild it with `make lm`") from None

    def __call__(self, log_probs: Tensor, lengths: Tensor) -> list[str]:
        """Best transcript per utterance; frames at or beyond each length are ignored."""
        emissions = log_probs.detach().to("cpu", torch.float32).contiguous()
        start = time.perf_counter()
        results = self._search(emissions, lengths.detach().to("cpu", torch.int32))
        self.seconds += time.perf_counter() - start
        return [self._text(best[0]) if best else "" for best in results]

    def _text(self, hypothesis) -> str:
        if self.kind == "lexicon":
            return " ".join(hypothesis.words)
        return self.tokenizer.decode(int(t) for t in hypothesis.tokens)

    def describe(self) -> dict:
        """What decoded: for results files and the model's metadata."""
        return {"decoder": "beam", "search": self.kind, "lm": self.lm, **self.settings.to_dict()}
