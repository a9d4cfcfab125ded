"""WER per split and per voice from a test run's `predictions-<split>.jsonl` files.

The embedded corpus names each speaker in `LibriSpeech/SPEAKERS.TXT` as
"<engine> <voice>[+variant] pitch P tempo T"; speakers are grouped by engine and voice, so each
held-out voice can be read off on its own. On real LibriSpeech the group is the reader's name.

    conprune voices --data DIR --predictions RUN_DIR [--out wer.md]
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from torchmetrics.functional.text import word_error_rate

from conprune.data import layout


def read_speaker_names(corpus_root: Path) -> dict[str, str]:
    """speaker id -> voice name from SPEAKERS.TXT (`ID | SEX | SUBSET | MINUTES | NAME`)."""
    path = layout.speakers_file(corpus_root)
    names: dict[str, str] = {}
    if not path.is_file():
        return names
    for line in path.read_text().splitlines():
        if line.startswith(";") or line.count("|") < 4:
            continue
        fields = [f.strip() for f in line.split("|")]
        words = fields[4].split()
        names[fields[0]] = " ".join(words[:2]).split("+")[0] if words else fields[0]
    return names


def wer_table(predictions_dir: Path, corpus_root: Path) -> list[dict]:
    """Rows of (split, voice, utterances, words, wer); voice `*` is the whole split."""
    voices = read_speaker_names(corpus_root)
    rows = []
    for path in sorted(predictions_dir.rglob("predictions-*.jsonl")):
        split = path.stem.removeprefix("predictions-")
        items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        groups: dict[str, list[dict]] = defaultdict(list)
        for item in items:
            groups[voices.get(str(item["speaker"]), str(item["speaker"]))].append(item)
        for voice, group in [("*", items)] + sorted(groups.items()):
            refs = [g["ref"] for g in group]
            rows.append({"split": split, "voice": voice, "utterances": len(group),
                         "words": sum(len(r.split()) for r in refs),
                         "wer": float(word_error_rate([g["hyp"] for g in group], refs))})
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = ["| split | voice | utterances | words | WER % |", "|---|---|---:|---:|---:|"]
    for r in rows:
        voice = "**all**" if r["voice"] == "*" else r["voice"]
        lines.append(f"| {r['split']} | {voice} | {r['utterances']} | {r['words']} | {100 * r['wer']:.1f} |")
    return "\n".join(lines) + "\n"
