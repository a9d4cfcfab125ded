"""The embedded corpus's LM text: its source text minus every dev/test sentence, and the guard that
fails the build when a dev/test sentence is in it; KenLM estimation when lmplz is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conprune.corpus.lm_text import check_no_overlap, held_out_sentences, write_lm_text
from conprune.corpus.synth import STAMP
from conprune.data.ngram_lm import estimate, lm_vocabulary
from conprune.errors import ConpruneError

SOURCE = """In the beginning God created the heaven and the earth.

And the earth was without form, and void. And God said, Let there be light: and there was light.

And God saw the light, that it was good. And the evening and the morning were the first day.
And the earth was without form, and void.
"""
KENLM_BIN = Path(".venv/bin")


def fake_corpus(root: Path) -> Path:
    """A corpus stamp naming a --text file, and dev/test transcripts holding two of its sentences."""
    libri = root / "LibriSpeech"
    (root / "source.txt").write_text(SOURCE)
    (libri / "train-clean-100" / "1" / "10").mkdir(parents=True)
    for split, line in (("dev-clean", "AND THE EARTH WAS WITHOUT FORM AND VOID"), ("test-other", "AND GOD SAW THE LIGHT THAT IT WAS GOOD")):
        chapter = libri / split / "2" / "20"
        chapter.mkdir(parents=True)
        (chapter / "2-20.trans.txt").write_text(f"2-20-0000 {line}\n")
    (libri / "train-clean-100" / "1" / "10" / "1-10.trans.txt").write_text("1-10-0000 AND GOD SAID LET THERE BE LIGHT AND THERE WAS LIGHT\n")
    stamp = {"content": {"sources": ["file:source.txt"], "text_file": str(root / "source.txt")}}
    (libri / STAMP).write_text(json.dumps(stamp))
    return libri


def test_the_lm_text_keeps_training_sentences_and_drops_every_dev_and_test_one(tmp_path):
    libri = fake_corpus(tmp_path)
    report = write_lm_text(libri, tmp_path / "lm" / "lm-text.txt")
    lines = (tmp_path / "lm" / "lm-text.txt").read_text().splitlines()
    assert "AND THE EARTH WAS WITHOUT FORM AND VOID" not in lines and "AND GOD SAW THE LIGHT THAT IT WAS GOOD" not in lines
    assert lines == ["IN THE BEGINNING GOD CREATED THE HEAVEN AND THE EARTH",  # training sentences stay
                     "AND GOD SAID LET THERE BE LIGHT AND THERE WAS LIGHT",
                     "AND THE EVENING AND THE MORNING WERE THE FIRST DAY"]
    assert report["removed_dev_test_lines"] == 3  # the dev sentence occurs twice in the source
    assert report["held_out_sentences"] == 2 and report["sentences"] == len(lines)


def test_the_guard_fails_on_any_dev_or_test_sentence_however_it_is_spaced(tmp_path):
    libri = fake_corpus(tmp_path)
    held = held_out_sentences(libri)
    text = tmp_path / "lm.txt"
    text.write_text("LET THERE BE LIGHT\nand the  earth was without form and void \n")
    with pytest.raises(ConpruneError, match=r"1 line\(s\) are dev/test sentences \(e.g. 'and the  earth"):
        check_no_overlap(text, held)
    text.write_text("LET THERE BE LIGHT\nAND THE EARTH WAS WITHOUT FORM\n")
    check_no_overlap(text, held)  # a part of a held-out sentence is not the sentence


def test_a_corpus_not_made_by_synth_has_no_lm_text(tmp_path):
    (tmp_path / "LibriSpeech" / "dev-clean").mkdir(parents=True)
    with pytest.raises(ConpruneError, match="not a corpus made by `conprune data synth`"):
        write_lm_text(tmp_path / "LibriSpeech", tmp_path / "lm.txt")


def test_estimation_without_kenlm_built_says_how_to_build_it(tmp_path):
    text = tmp_path / "lm.txt"
    text.write_text("A B C\n")
    with pytest.raises(ConpruneError, match=r"lmplz not found: build KenLM with `make lm`"):
        estimate(text, tmp_path / "words-3gram", 3, tmp_path / "no-kenlm")


@pytest.mark.skipif(not (KENLM_BIN / "lmplz").is_file(), reason="KenLM not built (make lm builds it)")
def test_estimation_writes_arpa_binary_and_vocabulary(tmp_path):
    libri = fake_corpus(tmp_path)
    write_lm_text(libri, tmp_path / "lm-text.txt")
    out = estimate(tmp_path / "lm-text.txt", tmp_path / "words-3gram", 3, KENLM_BIN)
    words = lm_vocabulary(out["arpa"])
    assert "GOD" in words and "<s>" in words and lm_vocabulary(out["binary"]) == words
    assert out["vocabulary"] == len(words)
