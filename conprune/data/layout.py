"""Where things live under a corpus root: the one place that spells these paths.

A corpus root holds the LibriSpeech tree (`LibriSpeech/<split>/...`, real or synthesised) and what
conprune derives from it: one JSONL manifest per split, the SentencePiece tokenizers and the global
CMVN statistics, and the n-gram LMs. Every reader and writer asks this module, so moving a file is
one edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def corpus_tree(root: str | Path) -> Path:
    """The LibriSpeech directory under a corpus root."""
    return Path(root) / "LibriSpeech"


def speakers_file(root: str | Path) -> Path:
    """LibriSpeech's SPEAKERS.TXT (`ID | SEX | SUBSET | MINUTES | NAME`)."""
    return corpus_tree(root) / "SPEAKERS.TXT"


def manifest_dir(root: str | Path) -> Path:
    """The directory of the per-split manifests (and the CMVN statistics)."""
    return Path(root) / "manifests"


def manifest_path(root: str | Path, split: str) -> Path:
    """The JSONL manifest of one split."""
    return manifest_dir(root) / f"{split}.jsonl"


def tokenizer_path(root: str | Path, num_pieces: int) -> Path:
    """The SentencePiece unigram model of `num_pieces` pieces trained on this corpus."""
    return Path(root) / "tokenizer" / f"unigram{num_pieces}.model"


def cmvn_path(root: str | Path, train_splits: Iterable[str], lifter: int = 0) -> Path:
    """Global CMVN statistics of the training splits (of the cepstrally smoothed features when
    `lifter` > 0, which are other numbers, so another file)."""
    suffix = f"-lifter{lifter}" if lifter else ""
    return manifest_dir(root) / ("cmvn-" + "+".join(train_splits) + suffix + ".json")


def lm_dir(root: str | Path) -> Path:
    """The n-gram language models of this corpus (`make lm`, `conprune data download --lm`)."""
    return Path(root) / "lm"


def lm_text_path(root: str | Path) -> Path:
    """The text the corpus's own LM is estimated on (its source text minus dev and test)."""
    return lm_dir(root) / "lm-text.txt"


def lm_stem(root: str | Path, units: str, order: int) -> Path:
    """The LM of `order` over `units` ("words" or "pieces"), without its suffix (.arpa, .bin, .vocab)."""
    return lm_dir(root) / f"{units}-{order}gram"
