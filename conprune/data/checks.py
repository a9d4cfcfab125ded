"""Screen manifest rows before a stage trains on them: fail fast, or skip, count and say why.

A manifest is written once (`conprune data prepare`) and read by every later stage, possibly on
another machine or after the corpus moved. What can go wrong between the two is checked when the
datasets are built (in `setup`, before the first step), not hours later inside a data-loader
worker whose traceback buries the message:

- audio that is no longer where the manifest says (a moved or deleted corpus) stops the stage
  with the fix: regenerate the manifest;
- training utterances longer than `data.batching.max_train_frames` are skipped and counted (one
  long outlier would otherwise set the batch's padded size or run out of memory);
- transcripts with characters the tokenizer has no piece for would be trained as <unk>, which
  teaches the model to emit " ⁇ ": training rows with them are skipped and counted, evaluation
  rows are kept (their WER is computed on text) with a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from conprune.data.features import num_frames
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError

log = logging.getLogger(__name__)


def check_audio_present(rows: list[dict], manifest: str | os.PathLike, samples: int = 64) -> None:
    """Raise if any of ~`samples` rows spread over the manifest points at a missing file.

    A moved corpus loses every file at once, so a spread sample finds it with a few dozen
    `stat` calls even on a 281k-row manifest.
    """
    if not rows:
        return
    step = max(1, len(rows) // samples)
    for row in [*rows[::step], rows[-1]]:
        if not os.path.isfile(row["path"]):
            raise ConpruneError(
                f"manifest {manifest} lists audio {row['path']} that does not exist (was the corpus moved or "
                f"deleted?): delete {Path(manifest).parent} so fit regenerates it, or re-run `conprune data "
                "prepare --root DIR`")


def unknown_characters(tokenizer: Tokenizer, texts: Iterable[str]) -> set[str]:
    """Characters of `texts` (whitespace aside) that the tokenizer can only encode as <unk>."""
    chars = {c for text in texts for c in text.upper() if not c.isspace()}
    return {c for c in chars if tokenizer.unk_id in tokenizer.encode(c)}


def screen_rows(rows: list[dict], split: str, tokenizer: Tokenizer,
                max_frames: int | None) -> tuple[list[dict], dict[str, int]]:
    """(rows to use, skip counts {too_long, unknown_chars}) for one split.

    `max_frames` is the training cap (`data.batching.max_train_frames`); None marks an evaluation
    split, which keeps every row. Raises when a training split would be left empty.
    """
    counts = {"too_long": 0, "unknown_chars": 0}
    unknown = unknown_characters(tokenizer, (r["text"] for r in rows))
    kept = []
    for row in rows:
        if max_frames is not None and num_frames(row["num_samples"], row.get("sample_rate", 16000)) > max_frames:
            counts["too_long"] += 1
        elif unknown and any(c in unknown for c in row["text"].upper()):
            counts["unknown_chars"] += 1
            if max_frames is None:
                kept.append(row)
        else:
            kept.append(row)
    shown = "".join(sorted(unknown))[:20]
    if counts["too_long"]:
        log.warning("%s: skipped %d utterances longer than data.batching.max_train_frames=%d", split,
                    counts["too_long"], max_frames)
    if counts["unknown_chars"]:
        action = "skipped" if max_frames is not None else "kept (scored on text)"
        log.warning("%s: %s %d utterances whose transcripts hold characters the tokenizer does not know (%r); "
                    "normalise the transcripts or retrain the tokenizer", split, action, counts["unknown_chars"],
                    shown)
    if max_frames is not None and rows and not kept:
        raise ConpruneError(
            f"training split {split}: all {len(rows)} utterances were skipped ({counts['too_long']} longer than "
            f"data.batching.max_train_frames={max_frames}, {counts['unknown_chars']} with characters {shown!r} "
            "unknown to the tokenizer): raise data.batching.max_train_frames or retrain the tokenizer on this "
            "corpus")
    return kept, counts
