"""Transcript normalisation: what the TTS engine says must be what the transcript spells."""

from __future__ import annotations

import re

import pytest

from conprune.corpus.text_normalize import (
    expand_abbreviations,
    normalize_transcript,
    number_to_words,
    ordinal_to_words,
    split_sentences,
    year_to_words,
)


@pytest.mark.parametrize(("n", "words"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty two"),
    (100, "one hundred"), (105, "one hundred five"), (999, "nine hundred ninety nine"),
    (1000, "one thousand"), (3000, "three thousand"), (1_000_001, "one million one"),
    (12_345, "twelve thousand three hundred forty five"),
])
def test_cardinals(n: int, words: str) -> None:
    assert number_to_words(n) == words


@pytest.mark.parametrize(("n", "words"), [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"),
    (9, "ninth"), (12, "twelfth"), (20, "twentieth"), (21, "twenty first"), (100, "one hundredth"),
])
def test_ordinals(n: int, words: str) -> None:
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize(("n", "words"), [
    (1811, "eighteen eleven"), (1900, "nineteen hundred"), (1805, "eighteen oh five"),
    (2005, "two thousand five"),
])
def test_years(n: int, words: str) -> None:
    assert year_to_words(n) == words


@pytest.mark.parametrize(("text", "expected"), [
    ("In 1811 they had 3 sons.", "IN EIGHTEEN ELEVEN THEY HAD THREE SONS"),
    ("On the 21st and the 2nd day.", "ON THE TWENTY FIRST AND THE SECOND DAY"),
    ("It cost $3.50, or 1,000 pounds.", "IT COST THREE DOLLARS FIFTY CENTS OR ONE THOUSAND POUNDS"),
    ("Twelve % is 12%.", "TWELVE IS TWELVE PERCENT"),
    ("Mr. Bennet and Mrs. Bennet met Dr. Jones.", "MISTER BENNET AND MISSUS BENNET MET DOCTOR JONES"),
    ("Mrs Charles Musgrove came.", "MISSUS CHARLES MUSGROVE CAME"),
    ("They went to St. Paul's, &c. and so on.", "THEY WENT TO SAINT PAUL'S ET CETERA AND SO ON"),
    ("Bread & butter, etc.", "BREAD AND BUTTER ET CETERA"),
])
def test_numbers_and_abbreviations(text: str, expected: str) -> None:
    assert normalize_transcript(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("\"Well,\" said she; \"--is it?\"", "WELL SAID SHE IS IT"),
    ("her mother-in-law was _very_ kind!", "HER MOTHER IN LAW WAS VERY KIND"),
    ("Jacob's tent and the maidservants' tents", "JACOB'S TENT AND THE MAIDSERVANTS' TENTS"),
    ("'I don't know,' she said.", "I DON'T KNOW SHE SAID"),
    ("'Tis true, 'twas so.", "'TIS TRUE 'TWAS SO"),
    ("A café \u2014 na\u00efve \u2019quote\u2019", "A CAFE NAIVE QUOTE"),
])
def test_punctuation_and_apostrophes(text: str, expected: str) -> None:
    assert normalize_transcript(text) == expected


def test_output_charset_and_unspeakable() -> None:
    out = normalize_transcript("Genesis 1:1 -- In the beginning (verse 3.5) #1!")
    assert out is not None and re.fullmatch(r"[A-Z' ]+", out)
    assert normalize_transcript("...!?") is None
    assert normalize_transcript("") is None


def test_abbreviation_rules_need_context() -> None:
    assert expand_abbreviations("No. 5") == "number 5"
    assert expand_abbreviations("No, never.") == "No, never."
    assert expand_abbreviations("Gen. Tilney") == "General Tilney"


def test_split_sentences_keeps_abbreviations() -> None:
    prose = 'Mr. Bennet was odd. "Is it?" she said! Then--he went.\n  And Dr. Jones? Yes.'
    assert split_sentences(prose) == [
        "Mister Bennet was odd.", '"Is it?" she said!', "Then he went.", "And Doctor Jones?", "Yes."]
    assert split_sentences("   ") == []
