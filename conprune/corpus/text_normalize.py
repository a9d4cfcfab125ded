"""Turn written English into LibriSpeech-style transcripts (A-Z, space, apostrophe).

The synthetic corpus speaks exactly the normalised text, so the transcript must spell out what a
reader says: numbers become words, abbreviations are expanded, punctuation is dropped. Anything we
cannot spell confidently (stray digits, symbols) makes the sentence unusable instead of guessing,
because a transcript that disagrees with the audio is worse than one sentence fewer.
"""

from __future__ import annotations

import re
import unicodedata

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

# Expanded before sentence splitting, so their full stops do not end a sentence.
# word -> (expansion, rule): "opt" the full stop is optional, "dot" it is required, "cap" it is
# required and a capitalised word must follow (Gen. Smith, not the word "gen"), "num" a number
# must follow (No. 5).
_ABBREVIATIONS = {
    "etc": ("et cetera", "dot"), "Mrs": ("Missus", "opt"), "Mr": ("Mister", "opt"),
    "Messrs": ("Messieurs", "opt"), "Dr": ("Doctor", "opt"), "St": ("Saint", "cap"),
    "Esq": ("Esquire", "opt"), "Capt": ("Captain", "opt"), "Col": ("Colonel", "opt"),
    "Lt": ("Lieutenant", "opt"), "Gen": ("General", "cap"), "Rev": ("Reverend", "cap"),
    "Prof": ("Professor", "opt"), "Jr": ("Junior", "opt"), "Sr": ("Senior", "opt"),
    "No": ("number", "num"), "vs": ("versus", "dot"), "e.g": ("for example", "dot"),
    "i.e": ("that is", "dot"),
}
# One scan per text: Python's re is slow at trying many alternatives at every position.
_ABBREV_RE = re.compile(r"&c\.?|&|\b(" + "|".join(re.escape(k) for k in _ABBREVIATIONS) + r")\b(\.?)")
_FOLLOW_CAP = re.compile(r"\s+[A-Z]")
_FOLLOW_NUM = re.compile(r"\s*\d")


def _expand_one(m: re.Match[str]) -> str:
    """Regex callback for `expand_abbreviations`."""
    token = m.group(0)
    if token.startswith("&"):
        return " et cetera" if token.startswith("&c") else " and "
    word, dot = m.group(1), m.group(2)
    expansion, rule = _ABBREVIATIONS[word]
    if rule == "opt":
        return expansion
    if not dot:
        return token
    if rule == "cap" and not _FOLLOW_CAP.match(m.string, m.end()):
        return "Street" if word == "St" else token
    if rule == "num" and not _FOLLOW_NUM.match(m.string, m.end()):
        return token
    return expansion


def number_to_words(n: int) -> str:
    """Spell a non-negative integer the way a reader says it ("one hundred and five" style
    without the "and", matching LibriSpeech transcripts)."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return number_to_words(head) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise ValueError(n)


def ordinal_to_words(n: int) -> str:
    """Spell an ordinal (21 -> "twenty first")."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    """Spell a year as read aloud: 1811 -> "eighteen eleven", 1900 -> "nineteen hundred",
    1805 -> "eighteen oh five", 2005 -> "two thousand five"."""
    if not 1100 <= n <= 1999:
        return number_to_words(n)
    head, tail = divmod(n, 100)
    if tail == 0:
        return number_to_words(head) + " hundred"
    if tail < 10:
        return number_to_words(head) + " oh " + _ONES[tail]
    return number_to_words(head) + " " + number_to_words(tail)


def _spell_number(match: re.Match[str]) -> str:
    """Regex callback: currency, ordinals, decimals, years and plain cardinals."""
    currency, digits, decimal, suffix = match.group(1), match.group(2), match.group(3), match.group(4)
    plain = digits.replace(",", "")
    n = int(plain)
    if suffix:
        words = ordinal_to_words(n)
    elif decimal:
        words = number_to_words(n) + " point " + " ".join(_ONES[int(d)] for d in decimal[1:])
    elif "," not in digits and len(plain) == 4 and not currency:
        words = year_to_words(n)
    else:
        words = number_to_words(n)
    if currency:
        unit, cent, cents_word = {"$": ("dollar", "cent", "cents"), "£": ("pound", "penny", "pence")}[currency]
        words = number_to_words(n) + " " + unit + ("" if n == 1 else "s")
        if decimal and len(decimal) == 3:
            cents = int(decimal[1:])
            words += " " + number_to_words(cents) + " " + (cent if cents == 1 else cents_word)
    return " " + words + " "


_NUMBER_RE = re.compile(r"([$£])?\b(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(st|nd|rd|th)?\b")
_PERCENT_RE = re.compile(r"(\d)\s*%")
_ELISIONS = frozenset({"TIS", "TWAS", "TWERE", "TWILL", "TWOULD", "EM"})
_DIGIT_RE = re.compile(r"\d")
_NON_WORD_RE = re.compile(r"[^A-Za-z']+")


def expand_abbreviations(text: str) -> str:
    """Expand abbreviations (Mr. -> Mister); done before sentence splitting on purpose."""
    return _ABBREV_RE.sub(_expand_one, text)


def _ascii_fold(text: str) -> str:
    """Drop accents (é -> e) and map typographic quotes/dashes to ASCII."""
    if text.isascii():
        return text
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2014", " ").replace("\u2013", " ")
    text = text.replace("\u00e6", "ae").replace("\u00c6", "AE").replace("\u0153", "oe").replace("\u0152", "OE")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalize_transcript(text: str) -> str | None:
    """Return the LibriSpeech-style transcript of one sentence, or None if it cannot be spelled.

    The result is upper case A-Z, single spaces and word-internal (or plural-possessive) apostrophes.
    """
    text = _ascii_fold(expand_abbreviations(text))
    if _DIGIT_RE.search(text):
        text = _NUMBER_RE.sub(_spell_number, _PERCENT_RE.sub(r"\1 percent", text))
        if _DIGIT_RE.search(text):
            return None
    words = [_fix_apostrophes(w) for w in _NON_WORD_RE.sub(" ", text).upper().split()]
    words = [w for w in words if w]
    return " ".join(words) if words else None


def _fix_apostrophes(word: str) -> str:
    """Keep an apostrophe inside a word (DON'T), after a plural S (SERVANTS') or in an elision
    ('TIS); any other apostrophe is a single quotation mark and is dropped."""
    if "'" not in word:
        return word
    core = word.strip("'")
    if word.endswith("'") and core.endswith("S"):
        core += "'"
    if word.startswith("'") and core.rstrip("'") in _ELISIONS:
        core = "'" + core
    return core


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])")


def split_sentences(prose: str) -> list[str]:
    """Split running prose into sentences (abbreviations are expanded first, so "Mr. Bennet"
    does not end a sentence). Dashes joining clauses (--) become spaces."""
    prose = expand_abbreviations(prose.replace("--", " "))
    prose = re.sub(r"\s+", " ", prose).strip()
    if not prose:
        return []
    return [s.strip() for s in _SENTENCE_END.split(prose) if s.strip()]
