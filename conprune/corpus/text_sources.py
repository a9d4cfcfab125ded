"""Public-domain English sentences for the synthetic corpus.

Two offline sources come from Debian packages (installed by `make system-deps`): the King James
Bible (`bible-kjv`) and Jane Austen's six novels (`r-cran-janeaustenr`, R data read without R via
the PyPI package `rdata`). A user `--text FILE` replaces both. The confirmation splits speak a
third text that nothing else uses, Melville's *Moby Dick* (the `mobydick` data set of Debian's
`r-cran-tokenizers`), or `--confirm-text FILE`. Every sentence is normalised to a LibriSpeech
transcript here, so the TTS engines later speak exactly the transcript.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from conprune.corpus.text_normalize import normalize_transcript, split_sentences
from conprune.errors import ConpruneError

AUSTEN_DIR = Path("/usr/lib/R/site-library/janeaustenr/data")
TOKENIZERS_DIR = Path("/usr/lib/R/site-library/tokenizers/data")
AUSTEN_NOVELS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey",
                 "persuasion")
_HEADING = re.compile(r"^\s*(CHAPTER|Chapter|VOLUME|Volume|BOOK|THE END|FINIS)\b[\sIVXLC\d.]*$|^\s*[IVXLC]+\.?\s*$")


@dataclass(frozen=True)
class Sentence:
    """One usable sentence: where it came from and its transcript (upper case)."""

    source: str
    transcript: str

    @property
    def words(self) -> int:
        """Number of words, used for length filtering and duration estimates."""
        return self.transcript.count(" ") + 1


def kjv_available() -> bool:
    """True when Debian's `bible` program (package bible-kjv) is installed."""
    return shutil.which("bible") is not None


def austen_available() -> bool:
    """True when janeaustenr's lazy-load R database is installed."""
    return (AUSTEN_DIR / "Rdata.rdx").is_file() and (AUSTEN_DIR / "Rdata.rdb").is_file()


def kjv_prose() -> list[str]:
    """The KJV as a list of verses (each verse is a paragraph; sentence splitting follows)."""
    out = subprocess.run(["bible", "-l0", "gen1:1-rev22:21"], capture_output=True, text=True,
                         check=True).stdout
    verses = []
    for line in out.splitlines():
        m = re.match(r"^\s+\d+\s+(.*)$", line)
        if m:
            verses.append(m.group(1))
    return verses


def mobydick_available() -> bool:
    """True when r-cran-tokenizers' lazy-load R database (which holds `mobydick`) is installed."""
    return (TOKENIZERS_DIR / "Rdata.rdx").is_file() and (TOKENIZERS_DIR / "Rdata.rdb").is_file()


def _lazy_load(directory: Path) -> dict[str, list[str]]:
    """Every data set of an R package's lazy-load database (.rdx index + .rdb blobs, each a 4-byte
    length then zlib-compressed R serialisation) as a list of strings, read without R."""
    import warnings

    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = rdata.conversion.convert(
            rdata.parser.parse_data(gzip.decompress((directory / "Rdata.rdx").read_bytes())))
        blob = (directory / "Rdata.rdb").read_bytes()
        out = {}
        for name, (offset, length) in index["variables"].items():
            chunk = blob[int(offset):int(offset) + int(length)]
            values = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(chunk[4:])))
            out[str(name)] = [str(x) for x in values]
    return out


def _paragraphs(lines: list[str]) -> list[str]:
    """Join hard-wrapped lines into paragraphs (blank-line separated), dropping headings."""
    paragraphs, current = [], []
    for line in lines:
        if not line.strip() or _HEADING.match(line):
            if current:
                paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def austen_prose() -> list[str]:
    """Austen's six novels as paragraphs, in a fixed novel order (for determinism)."""
    novels = _lazy_load(AUSTEN_DIR)
    return [p for name in AUSTEN_NOVELS if name in novels for p in _paragraphs(novels[name])]


def mobydick_prose() -> list[str]:
    """Moby Dick's 135 chapters and epilogue as paragraphs: the Gutenberg header and licence, the
    title page and the Etymology and Extracts (quotations of other books, the KJV among them) are
    cut, and so are the chapter headings."""
    lines = "".join(_lazy_load(TOKENIZERS_DIR)["mobydick"]).replace("\r\n", "\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("CHAPTER 1. Loomings"))
    end = next(i for i, line in enumerate(lines) if line.startswith("End of Project Gutenberg"))
    return [p for p in _paragraphs(lines[start:end]) if not p.startswith("CHAPTER ") and p != "Epilogue"]


def file_prose(path: Path) -> list[str]:
    """A user text file: paragraphs if it has blank lines (running prose), else one unit per line."""
    if not path.is_file():
        raise ConpruneError(f"--text: file not found: {path}; pass an existing UTF-8 text file")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if any(not line.strip() for line in lines):
        return _paragraphs(lines)
    return [line for line in lines if line.strip()]


def source_names(text_file: Path | None) -> list[str]:
    """Names of the sentence sources `load_sentences` will read (cheap: nothing is loaded)."""
    if text_file is not None:
        return [f"file:{Path(text_file).name}"]
    return [n for n, ok in (("bible-kjv", kjv_available()), ("janeaustenr", austen_available())) if ok]


def unique_sentences(sources: list[tuple[str, list[str]]], min_words: int, max_words: int,
                     seen: set[str]) -> list[Sentence]:
    """The normalised sentences of `min_words`-`max_words` words of (name, paragraphs) sources, in
    source order, each transcript once and none already in `seen` (which grows with them)."""
    sentences: list[Sentence] = []
    for name, paragraphs in sources:
        for paragraph in paragraphs:
            for raw in split_sentences(paragraph):
                transcript = normalize_transcript(raw)
                if transcript is None or transcript in seen:
                    continue
                n = transcript.count(" ") + 1
                if min_words <= n <= max_words:
                    seen.add(transcript)
                    sentences.append(Sentence(name, transcript))
    return sentences


def load_sentences(text_file: Path | None = None, min_words: int = 5,
                   max_words: int = 35) -> tuple[list[Sentence], list[str]]:
    """Return (unique normalised sentences in source order, names of the sources used).

    Duplicates (same transcript) are dropped so that no two splits can share a sentence.
    """
    readers = {"bible-kjv": kjv_prose, "janeaustenr": austen_prose}
    names = source_names(text_file)
    if not names:
        raise ConpruneError(
            "text: no sentence source found (Debian bible-kjv / r-cran-janeaustenr missing); "
            "run `make system-deps` (scripts/install_system_deps.sh) or pass --text FILE")
    sources = [(n, file_prose(Path(text_file)) if text_file is not None else readers[n]()) for n in names]
    sentences = unique_sentences(sources, min_words, max_words, set())
    if not sentences:
        raise ConpruneError(f"text: no sentence of {min_words}-{max_words} words found in "
                            f"{', '.join(n for n, _ in sources)}; pass a --text file with English prose")
    return sentences, [n for n, _ in sources]
