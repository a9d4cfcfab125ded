"""SentencePiece tokenizer with blank = 0."""

import pickle

import pytest

from conprune.data.tokenizer import BLANK, Tokenizer, train_tokenizer
from conprune.errors import ConpruneError

TEXTS = ["THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG", "IT'S A LONG WAY TO TIPPERARY",
         "SHE SELLS SEA SHELLS BY THE SEA SHORE", "PETER PIPER PICKED A PECK OF PICKLED PEPPERS"] * 5


def test_round_trip_and_blank_is_never_a_token(tmp_path):
    path = train_tokenizer(TEXTS, tmp_path / "tok" / "unigram40.model", num_pieces=40)
    tok = Tokenizer(path)
    assert tok.vocab_size == 41
    for text in TEXTS[:4]:
        ids = tok.encode(text)
        assert BLANK not in ids and max(ids) < tok.vocab_size
        assert tok.decode(ids) == text
    assert tok.decode([BLANK] + tok.encode("THE DOG") + [BLANK]) == "THE DOG"
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.encode("THE FOX") == tok.encode("THE FOX")


def test_unknown_characters_map_to_unk(tmp_path):
    tok = Tokenizer(train_tokenizer(TEXTS, tmp_path / "t.model", num_pieces=40))
    assert tok.unk_id in tok.encode("Z\u00e9Q")


def test_errors(tmp_path):
    with pytest.raises(ConpruneError, match="conprune tokenizer"):
        Tokenizer(tmp_path / "missing.model")
    with pytest.raises(ConpruneError, match="no transcripts"):
        train_tokenizer([], tmp_path / "t.model")
    with pytest.raises(ConpruneError, match="vocab-size"):
        train_tokenizer(TEXTS, tmp_path / "t.model", num_pieces=5000)
