"""KenLM n-gram language models: estimate one from text (`lmplz`, `build_binary`) and read its words.

`make lm` builds KenLM's two programs (scripts/build_kenlm.sh) and `conprune build-lm` runs them
here: `lmplz` estimates a modified Kneser-Ney ARPA model, `build_binary` turns it into KenLM's
probing binary, which loads in milliseconds instead of seconds and is the fastest to query in
the beam search. A binary does not give its words back, and the decoder's lexicon needs them, so
they are written beside it as `NAME.vocab`. Each file is written under a temporary name and
renamed, so an interrupted build leaves no half file that a later `make lm` would take as done.

An LM's vocabulary is an ARPA file's unigrams (only that section is read, so LibriSpeech's
gzipped 4-gram is read in a second) or a binary's `NAME.vocab`.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

from conprune.errors import ConpruneError, first_line
from conprune.io_atomic import atomic_write_text

SPECIAL_WORDS = ("<s>", "</s>", "<unk>")
KENLM_MAGIC = b"mmap lm "


def lm_vocabulary(path: str | Path) -> list[str]:
    """The words of an LM file; one-line errors for a missing, unreadable or truncated one."""
    path = Path(path)
    if not path.is_file():
        raise ConpruneError(f"LM file {path} not found: build it with `make lm` (or `conprune data download --lm` "
                            "for LibriSpeech's 4-gram), or pass another --lm")
    with path.open("rb") as fh:
        head = fh.read(len(KENLM_MAGIC))
    if head == KENLM_MAGIC:
        vocab = path.with_suffix(".vocab")
        if not vocab.is_file():
            raise ConpruneError(f"LM file {path}: a KenLM binary keeps no word list; put its words in {vocab} "
                                "(one a line; `conprune build-lm` writes it) or pass the ARPA file")
        return vocab.read_text(encoding="utf-8").split()
    try:
        return _arpa_unigrams(path, head[:2] == b"\x1f\x8b")
    except (OSError, EOFError, ValueError) as exc:  # gzip.BadGzipFile is an OSError, a bad count a ValueError
        raise ConpruneError(f"LM file {path} is unreadable ({first_line(exc)}): rebuild it with `make lm`") from None


def _arpa_unigrams(path: Path, gzipped: bool) -> list[str]:
    """Words of the `\\1-grams:` section, checked against the count in the `\\data\\` header."""
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        first = next((line.strip() for line in fh if line.strip()), "")
        if first != "\\data\\":
            raise ConpruneError(f"LM file {path} is neither an ARPA file (no \\data\\ header) nor a KenLM "
                                "binary: pass the .arpa or .bin that `make lm` writes")
        expected = None
        for line in fh:
            if line.startswith("ngram 1="):
                expected = int(line.split("=", 1)[1])
            if line.strip() == "\\1-grams:":
                break
        words: list[str] = []
        for line in fh:
            fields = line.split()
            if len(fields) < 2 or expected is None or len(words) == expected:
                break
            words.append(fields[1])
    if expected is None or len(words) != expected:
        raise ConpruneError(f"LM file {path} is truncated or corrupt: its \\1-grams section has {len(words)} "
                            f"of {expected} words; rebuild it with `make lm`")
    return words


def _run(tool: Path, args: list[str]) -> None:
    if not tool.is_file():
        raise ConpruneError(f"{tool} not found: build KenLM with `make lm` (scripts/build_kenlm.sh), or pass "
                            "--kenlm DIR holding lmplz and build_binary")
    done = subprocess.run([str(tool), *args], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ConpruneError(f"{tool.name} failed ({lines[-1][:200] if lines else f'exit {done.returncode}'}); "
                            "see its message, fix the text file and rerun")


def estimate(text: Path, stem: Path, order: int, kenlm_bin: Path) -> dict:
    """Estimate an `order`-gram on `text` (one sentence a line) into `stem`.arpa, .bin and .vocab."""
    if not 2 <= order <= 6:
        raise ConpruneError(f"--order: KenLM is built for orders 2 to 6, got {order}")
    arpa, binary, vocab = (stem.with_suffix(s) for s in (".arpa", ".bin", ".vocab"))
    tmp = stem.parent / f".{stem.name}.tmp"
    _run(kenlm_bin / "lmplz", ["-o", str(order), "-S", "20%", "-T", str(stem.parent), "--discount_fallback",
                               "--text", str(text), "--arpa", str(tmp)])
    os.replace(tmp, arpa)
    words = lm_vocabulary(arpa)
    atomic_write_text(vocab, "".join(w + "\n" for w in words), "LM vocabulary")
    _run(kenlm_bin / "build_binary", [str(arpa), str(tmp)])
    os.replace(tmp, binary)
    return {"arpa": str(arpa), "binary": str(binary), "vocab": str(vocab), "order": order, "vocabulary": len(words)}


def piece_text(text: Path, tokenizer: Path, out: Path) -> Path:
    """`text` with every line written as the tokenizer's pieces (a pieces LM counts those)."""
    import sentencepiece as spm

    try:
        sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    except (OSError, RuntimeError) as exc:
        raise ConpruneError(f"--tokenizer {tokenizer} is not a SentencePiece model ({first_line(exc)}); pass the "
                            "acoustic model's tokenizer.model") from None
    with open(text, encoding="utf-8") as src:
        lines = [" ".join(sp.encode(line.strip(), out_type=str)) + "\n" for line in src if line.strip()]
    atomic_write_text(out, "".join(lines), "LM text in pieces")
    return out
