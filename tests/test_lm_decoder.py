"""Beam search with an n-gram LM (torchaudio's ctc_decoder): the LM moves an acoustically close call
toward the likely word, a piece LM is searched without a lexicon, and bad LM files and settings
each get one line."""

from __future__ import annotations

import sys

import pytest
import torch
from lm_files import emissions, letter_tokenizer, write_arpa

from conprune.cli import main
from conprune.errors import ConpruneError
from conprune.inference.lm_decoder import BeamDecoder, BeamSettings, token_labels
from conprune.models.ctc import greedy_decode

pytest.importorskip("flashlight.lib.text.decoder")

WORDS = ["THE", "CAT", "CAP", "SAT"]
# "THE CA?" where the last letter sounds a little more like P (0.5) than T (0.4).
SPOKEN = [{"▁": 0.9}, {"T": 0.9}, {"H": 0.9}, {"E": 0.9}, {"<blank>": 0.9}, {"▁": 0.9}, {"C": 0.9}, {"A": 0.9},
          {"P": 0.5, "T": 0.4}, {"<blank>": 0.9}]


@pytest.fixture(scope="module")
def tokenizer():
    return letter_tokenizer(WORDS)


@pytest.fixture()
def arpa(tmp_path):
    """THE CAT is a common pair, CAP a rare word."""
    return write_arpa(tmp_path / "tiny.arpa", {"THE": -0.6, "CAT": -0.8, "CAP": -2.5, "SAT": -1.0},
                      {("<s>", "THE"): -0.1, ("THE", "CAT"): -0.1, ("CAT", "</s>"): -0.1})


def spoken(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    log_probs = emissions(SPOKEN, token_labels(tokenizer))
    return log_probs, torch.tensor([log_probs.shape[1]])


def test_the_lm_turns_the_acoustically_closer_word_into_the_likely_one(tokenizer, arpa):
    log_probs, lengths = spoken(tokenizer)
    assert tokenizer.decode(greedy_decode(log_probs, lengths)[0]) == "THE CAP"
    assert BeamDecoder(tokenizer, None, BeamSettings())(log_probs, lengths) == ["THE CAP"]
    assert BeamDecoder(tokenizer, arpa, BeamSettings(lm_weight=0.0))(log_probs, lengths) == ["THE CAP"]
    with_lm = BeamDecoder(tokenizer, arpa, BeamSettings(lm_weight=1.0))
    assert with_lm.kind == "lexicon"
    assert with_lm(log_probs, lengths) == ["THE CAT"]
    assert with_lm.seconds > 0
    assert with_lm.describe()["lm_weight"] == 1.0


def test_a_batch_ignores_frames_past_each_length(tokenizer, arpa):
    log_probs, _ = spoken(tokenizer)
    padded = torch.cat([log_probs, torch.cat([log_probs[:, :5], log_probs[:, :5]], dim=1)])
    decoder = BeamDecoder(tokenizer, arpa, BeamSettings(lm_weight=1.0))
    assert decoder(padded, torch.tensor([10, 5])) == ["THE CAT", "THE"]


def test_a_piece_lm_is_searched_without_a_lexicon(tokenizer, tmp_path):
    pieces = write_arpa(tmp_path / "pieces.arpa", {p: -1.0 for p in ["▁", "T", "H", "E", "C", "A", "P", "S"]},
                        {("▁", "T"): -0.5})
    decoder = BeamDecoder(tokenizer, pieces, BeamSettings(lm_weight=0.1))
    assert decoder.kind == "lexicon-free"
    assert decoder(*spoken(tokenizer)) == ["THE CAP"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "not found"),
    ("\\data\\\nngram 1=9\n\n\\1-grams:\n-1.0\t<s>\n-1.0\tTHE\n", "truncated or corrupt"),
    ("hello world\n", "neither an ARPA file"),
    (b"mmap lm http://kheafield.com/code format version 5\n\0\0\0garbage", "keeps no word list"),
])
def test_a_missing_or_corrupt_lm_file_is_one_line(tokenizer, tmp_path, content, message):
    path = tmp_path / "lm.bin"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConpruneError, match=message) as err:
        BeamDecoder(tokenizer, path, BeamSettings())
    assert "\n" not in str(err.value)


def test_a_corrupt_binary_is_refused_by_kenlm_in_one_line(tokenizer, tmp_path):
    path = tmp_path / "lm.bin"
    path.write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0\0\0garbage")
    path.with_suffix(".vocab").write_text("\n".join(WORDS) + "\n")
    with pytest.raises(ConpruneError, match="cannot be loaded by KenLM") as err:
        BeamDecoder(tokenizer, path, BeamSettings())
    assert "\n" not in str(err.value)


def test_an_lm_in_another_case_does_not_fit_the_tokenizer(tokenizer, tmp_path):
    lower = write_arpa(tmp_path / "lower.arpa", {w.lower(): -1.0 for w in WORDS})
    with pytest.raises(ConpruneError, match=r"4 of 4 LM words \(e.g. 'the'\) do not fit"):
        BeamDecoder(tokenizer, lower, BeamSettings())


def test_without_flashlight_text_beam_search_says_what_to_install(tokenizer, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchaudio.models.decoder", None)
    with pytest.raises(ConpruneError, match=r"pip install 'conprune\[lm\]', or use --decoder greedy"):
        BeamDecoder(tokenizer, None, BeamSettings())


@pytest.mark.parametrize(("settings", "option"), [({"beam": 0}, "--beam"), ({"beam_token": -1}, "--beam-token"),
                                                  ({"lm_weight": float("nan")}, "--lm-weight")])
def test_bad_search_settings_are_refused(settings, option):
    with pytest.raises(ConpruneError, match=option):
        BeamSettings(**settings)


@pytest.mark.parametrize(("args", "message"), [
    (["--lm", "missing.arpa"], "LM file missing.arpa not found"),
    (["--decoder", "beam", "--beam", "0"], "--beam: must be an integer >= 1"),
    (["--lm-weight", "1"], "--lm-weight applies to beam search"),
])
def test_transcribe_reports_bad_decoder_options_in_one_line(compact_student, tmp_path, capsys, args, message):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    with pytest.raises(SystemExit) as done:
        main(["transcribe", "--model", str(compact_student), str(wav), *args])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
