"""Fingerprints of a corpus split, so a model can say which training data it saw.

Two checksums per split: one over the utterance ids and transcripts (which sentences), one over
the ids and the audio's own MD5 (FLAC stores the MD5 of the decoded samples in its STREAMINFO
block, so another encoder build of the same samples gives the same value, while another TTS
engine build gives another). A corpus rebuilt elsewhere with the same text but slightly
different audio is then told apart from a different corpus.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from conprune.data import layout
from conprune.data.manifest import read_manifest
from conprune.errors import ConpruneError

_FLAC_MD5 = slice(26, 42)  # "fLaC" + block header (4) + STREAMINFO up to its MD5 (18)


def audio_md5(path: str | Path) -> str:
    """The MD5 of the decoded samples stored in a FLAC file's header; for other formats, the MD5
    of the file's bytes."""
    with open(path, "rb") as fh:
        head = fh.read(42)
        if head[:4] == b"fLaC" and len(head) == 42:
            return head[_FLAC_MD5].hex()
        return hashlib.md5(head + fh.read()).hexdigest()


def split_fingerprint(rows: list[dict]) -> dict:
    """{"utterances", "text_sha256", "audio_sha256"} of a split's manifest rows (order-free)."""
    ordered = sorted(rows, key=lambda r: r["id"])
    text = hashlib.sha256("".join(f"{r['id']} {r['text']}\n" for r in ordered).encode())
    audio = hashlib.sha256("".join(f"{r['id']} {audio_md5(r['path'])}\n" for r in ordered).encode())
    return {"utterances": len(ordered), "text_sha256": text.hexdigest(), "audio_sha256": audio.hexdigest()}


def corpus_fingerprint(root: str | Path, splits: list[str]) -> dict[str, dict]:
    """`split_fingerprint` of each split's manifest under a corpus root."""
    return {split: split_fingerprint(read_manifest(layout.manifest_path(root, split))) for split in splits}


def compare_fingerprints(trained: dict[str, dict], here: dict[str, dict]) -> tuple[str, list[str]]:
    """("same" | "audio" | "text" | "none", the splits compared): how the training splits a model
    saw differ from this corpus's splits of the same names ("none": no split in common)."""
    common = sorted(set(trained) & set(here))
    if not common:
        return "none", common
    for split in common:
        for key in ("utterances", "text_sha256"):
            if trained[split].get(key) != here[split].get(key):
                return "text", common
    if any(trained[s].get("audio_sha256") != here[s].get("audio_sha256") for s in common):
        return "audio", common
    return "same", common


def check_fingerprint(value: object, where: str) -> dict[str, dict]:
    """A stored fingerprint mapping, validated (one-line error naming `where`)."""
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConpruneError(f"{where}: training-data fingerprint must map split -> checksums, got {value!r:.80}")
    return value
