"""A Hugging Face `tokenizer.json` as a CTC vocabulary in conprune's id space (blank 0).

Imported transformers checkpoints (Parakeet-CTC, LASR-CTC) ship a `tokenizers` JSON, and their CTC
blank is the pad token: the last id for Parakeet (NeMo appends it after the pieces), id 0 for LASR.
conprune's stages all assume blank 0, so ids are rotated: the blank becomes 0 and every id below it
moves up by one (HF id i < blank -> i + 1; ids above the blank keep theirs). The weight import
permutes the CTC head's rows the same way (`to_ctc_order`), so posteriors and labels line up.

Text follows conprune's transcript convention (LibriSpeech-style upper case): a vocabulary whose
pieces hold only lower-case letters (Parakeet's) is fed lower-cased text, and its decoded text is
upper-cased back, which loses nothing because it can hold no upper-case letter. With
`as_transformers=True`, `decode` gives exactly what transformers' `tokenizer.decode(...,
skip_special_tokens=True)` gives on the same (HF) ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from conprune.errors import ConpruneError, first_line

BLANK_TOKENS = ("<pad>", "<blank>")
CONTROL = re.compile(r"^<.*>$")  # <unk>, <pad>, <0x0A> byte pieces, <extra_id_0>: no text letters


def is_hf_tokenizer(data: bytes) -> bool:
    """True for a `tokenizers` JSON (text starting with `{`); a SentencePiece model is a binary proto."""
    return data.lstrip()[:1] == b"{"


class HfCtcVocabulary:
    """A `tokenizers.Tokenizer` read from `tokenizer.json` bytes, with ids rotated to blank 0.

    `where` names the file in errors. The blank is the JSON's padding id when it sets one, else the
    `<pad>` token (transformers' pad_token_id for Parakeet-CTC and LASR), else `<blank>`.
    """

    def __init__(self, data: bytes, where: str = "the tokenizer") -> None:
        try:
            from tokenizers import Tokenizer as Backend
        except ImportError:
            raise ConpruneError(f"{where} is a Hugging Face tokenizer.json, which needs the tokenizers package: "
                                "pip install 'conprune[hf]'") from None
        try:
            text = data.decode("utf-8")
            self._tok = Backend.from_str(text)
            padding = json.loads(text).get("padding") or {}
        except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
            raise ConpruneError(f"{where} is not a readable tokenizer.json ({first_line(exc)}); pass the "
                                "checkpoint's tokenizer.json") from exc
        self.size = self._tok.get_vocab_size(with_added_tokens=True)
        self.blank = self._blank_id(padding, where)
        self.case = vocabulary_case(self._tok.get_vocab(with_added_tokens=False))
        unk = self._tok.token_to_id("<unk>")
        self.unk_id = None if unk is None else self.to_ctc(unk)

    def _blank_id(self, padding: dict, where: str) -> int:
        if isinstance(padding.get("pad_id"), int):
            return padding["pad_id"]
        for token in BLANK_TOKENS:
            found = self._tok.token_to_id(token)
            if found is not None:
                return found
        raise ConpruneError(f"{where} has no <pad> or <blank> token to serve as the CTC blank; pass the "
                            "tokenizer.json the CTC checkpoint was converted with")

    def to_ctc(self, hf_id: int) -> int:
        """conprune id of HF id `hf_id` (the blank becomes 0, ids below it move up by one)."""
        return 0 if hf_id == self.blank else hf_id + 1 if hf_id < self.blank else hf_id

    def to_hf(self, ctc_id: int) -> int:
        """HF id of conprune id `ctc_id` (inverse of `to_ctc`)."""
        return self.blank if ctc_id == 0 else ctc_id - 1 if ctc_id <= self.blank else ctc_id

    def to_ctc_order(self) -> list[int]:
        """HF id at each conprune id: `head.weight[vocab.to_ctc_order()]` puts a transformers CTC
        head's rows in conprune's order."""
        return [self.to_hf(i) for i in range(self.size)]

    def cased(self, text: str) -> str:
        """`text` in the case the vocabulary was trained on (lower for an all-lower-case one)."""
        return text.lower() if self.case == "lower" else text.upper() if self.case == "upper" else text

    def encode(self, text: str) -> list[int]:
        """conprune ids of `text`, as the processors encode labels (no special tokens added)."""
        return [self.to_ctc(i) for i in self._tok.encode(self.cased(text), add_special_tokens=False).ids]

    def decode(self, ids: Iterable[int], as_transformers: bool = False) -> str:
        """Text of conprune ids (blanks dropped, repeats kept: CTC collapsing happens before)."""
        text = self._tok.decode([self.to_hf(int(i)) for i in ids if int(i) != 0], skip_special_tokens=True)
        return text.upper() if self.case == "lower" and not as_transformers else text


def vocabulary_case(vocab: Iterable[str]) -> str:
    """'lower' or 'upper' when the pieces' letters all have that case, else 'mixed' (control and
    byte pieces such as <unk> or <0x41> do not count)."""
    letters = [c for piece in vocab if not CONTROL.match(piece) for c in piece if c.isalpha()]
    lower = any(c.islower() for c in letters)
    upper = any(c.isupper() for c in letters)
    return "lower" if lower and not upper else "upper" if upper and not lower else "mixed"
