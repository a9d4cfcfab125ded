"""Text <-> CTC token ids with the blank at id 0: conprune's SentencePiece unigram, or an imported
checkpoint's Hugging Face `tokenizer.json`.

SentencePiece ids are shifted by one: token id = piece id + 1, so id 0 is free for the blank and
`vocab_size` of the model is the number of pieces + 1. SentencePiece's own <unk> (piece 0) becomes
token 1; bos/eos/pad are disabled because CTC needs none of them. A `tokenizer.json` already holds
its blank (the pad token); its ids are rotated so that it lands on 0 (`conprune.data.hf_tokenizer`).
Which of the two a file is, is read from its bytes, so a model file or `data.tokenizer` holds either.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from conprune.data.hf_tokenizer import HfCtcVocabulary, is_hf_tokenizer
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_write_bytes

log = logging.getLogger(__name__)

BLANK = 0


def train_tokenizer(texts: Iterable[str], out_path: str | Path, num_pieces: int = 256) -> Path:
    """Train a unigram model on transcripts and write it atomically to `out_path`."""
    out_path = Path(out_path)
    sentences = [t.upper() for t in texts if t.strip()]
    if not sentences:
        raise ConpruneError("cannot train a tokenizer: the training manifests hold no transcripts")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=num_pieces,
            model_type="unigram", character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            num_threads=max(1, min(2, os.cpu_count() or 1)), minloglevel=2)
    except RuntimeError as exc:
        raise ConpruneError(f"tokenizer training failed ({exc}); lower --vocab-size "
                            f"(asked for {num_pieces} pieces)") from exc
    atomic_write_bytes(out_path, model.getvalue(), "tokenizer")
    log.info("trained a %d-piece unigram tokenizer on %d sentences -> %s", num_pieces,
             len(sentences), out_path)
    return out_path


class Tokenizer:
    """Text <-> CTC token ids (blank = 0). Picklable, so data-loader workers can hold one.

    `model_proto` is the file's bytes, whichever kind (`kind`: "sentencepiece" or "hf"), so
    comparing two tokenizers is comparing bytes. Text is LibriSpeech-style upper case both ways.
    `hf` is the `HfCtcVocabulary` of a tokenizer.json (its id rotation for the weight import, and
    transformers' exact text), None for SentencePiece.
    """

    def __init__(self, path: str | Path | None = None, model_proto: bytes | None = None) -> None:
        if model_proto is None:
            if path is None or not Path(path).is_file():
                raise ConpruneError(f"tokenizer model {path} not found: run `conprune tokenizer "
                                    "--root DIR` (or fit once; prepare_data trains it)")
            model_proto = Path(path).read_bytes()
        self.model_proto = bytes(model_proto)
        self.hf: HfCtcVocabulary | None = None
        if is_hf_tokenizer(self.model_proto):
            self.hf = HfCtcVocabulary(self.model_proto, f"tokenizer {path or '(stored with the model)'}")
        else:
            self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)

    def __getstate__(self) -> dict:
        return {"model_proto": self.model_proto}

    def __setstate__(self, state: dict) -> None:
        self.__init__(model_proto=state["model_proto"])

    @property
    def kind(self) -> str:
        return "hf" if self.hf is not None else "sentencepiece"

    @property
    def vocab_size(self) -> int:
        """Output classes of the CTC head: pieces + blank."""
        return self.hf.size if self.hf is not None else self._sp.get_piece_size() + 1

    @property
    def unk_id(self) -> int | None:
        """The <unk> token's id (None for a tokenizer.json without one)."""
        return self.hf.unk_id if self.hf is not None else self._sp.unk_id() + 1

    def encode(self, text: str) -> list[int]:
        if self.hf is not None:
            return self.hf.encode(text)
        return [i + 1 for i in self._sp.encode(text.upper())]

    def decode(self, ids: Iterable[int]) -> str:
        if self.hf is not None:
            return self.hf.decode(ids)
        return self._sp.decode([int(i) - 1 for i in ids if int(i) != BLANK])
