"""Tiny hand-written language models and a letter tokenizer for the decoding tests (no KenLM build)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import sentencepiece as spm
import torch

from conprune.data.tokenizer import Tokenizer


def write_arpa(path: Path, unigrams: dict[str, float], bigrams: dict[tuple[str, str], float] | None = None) -> Path:
    """An ARPA file: log10 probabilities of `unigrams` (plus <s>, </s>, <unk>) and `bigrams`; every
    unigram backs off with -0.3, so unseen pairs are possible but unlikely."""
    unigrams = {"<unk>": -3.0, "<s>": -99.0, "</s>": -1.0, **unigrams}
    bigrams = bigrams or {}
    lines = ["\\data\\", f"ngram 1={len(unigrams)}"] + ([f"ngram 2={len(bigrams)}"] if bigrams else [])
    lines += ["", "\\1-grams:"] + [f"{p}\t{w}\t-0.3" for w, p in unigrams.items()]
    if bigrams:
        lines += ["", "\\2-grams:"] + [f"{p}\t{a} {b}" for (a, b), p in bigrams.items()]
    path.write_text("\n".join([*lines, "", "\\end\\", ""]))
    return path


def letter_tokenizer(words: list[str]) -> Tokenizer:
    """A SentencePiece model whose pieces are '▁' and the letters of `words` (ids 1.. after the blank)."""
    model = io.BytesIO()
    letters = set("".join(words))
    spm.SentencePieceTrainer.train(sentence_iterator=iter([" ".join(words)] * 3), model_writer=model,
                                   model_type="char", vocab_size=len(letters) + 2, unk_id=0, bos_id=-1, eos_id=-1,
                                   pad_id=-1, character_coverage=1.0, minloglevel=2)
    return Tokenizer(model_proto=model.getvalue())


def emissions(frames: list[dict[str, float]], labels: list[str]) -> torch.Tensor:
    """Log-probabilities [1, T, V]: each frame's dict gives the probability of some labels, the
    rest of the mass is spread evenly over the other labels."""
    rows = []
    for frame in frames:
        rest = (1.0 - sum(frame.values())) / (len(labels) - len(frame))
        rows.append([math.log(frame.get(label, rest)) for label in labels])
    return torch.tensor([rows])
