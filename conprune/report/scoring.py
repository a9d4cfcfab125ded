"""Per-utterance word errors of a run against the corpus references: every WER, difference and
interval in summary.json is computed from these counts, and `conprune report --verify` recomputes
them from the hypotheses committed next to it.

References and speakers come from the corpus manifests, never from the predictions files, so the
report and --verify start from the same references; a predictions file that disagrees with the
manifest (another utterance set, another reference) was made on another corpus and is refused.
The committed copy keeps only id and hypothesis per utterance, gzip-compressed without a time
stamp, so rewriting it with the same hypotheses leaves the same bytes (and no git diff).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kaldialign import edit_distance

from conprune.data import layout
from conprune.data.manifest import read_manifest
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open

POOLS = {"dev": ("dev-clean", "dev-other"), "test": ("test-clean", "test-other"),
         "confirm": ("test-confirm-clean", "test-confirm-other")}
# SPEAKERS.TXT names of a synthesised corpus: "<engine> <voice>[+variant] pitch P tempo T".
SYNTHETIC_NAME = re.compile(r"^(\S+) ([^\s+]+)(\+\S+)? pitch [\d.]+ tempo [\d.]+$")
PREDICTIONS = re.compile(r"^predictions-(?P<split>.+)\.jsonl(?:\.gz)?$")


@dataclass(frozen=True)
class Corpus:
    """References and speaker clusters of the dev/test splits whose manifests exist."""

    refs: dict[str, dict[str, str]]
    clusters: dict[str, dict[str, str]]
    unit: str
    root: Path


@dataclass(frozen=True)
class Pool:
    """One run's word errors on the utterances of some splits, in `split/id` order."""

    keys: list[str]
    errors: np.ndarray
    words: np.ndarray
    clusters: list[str]
    strata: list[str]

    @property
    def counts(self) -> list[int]:
        """[word errors, reference words]: the pooled WER as exact counts."""
        return [int(self.errors.sum()), int(self.words.sum())]

    @property
    def wer(self) -> float:
        errors, words = self.counts
        return errors / words


def speaker_clusters(root: Path) -> tuple[dict[str, str], str]:
    """(speaker id -> cluster, unit). In a synthesised corpus a speaker is a voice at some pitch and
    tempo, and the variants of one voice err together, so the cluster is the voice; elsewhere it
    is the speaker (LibriSpeech's reader)."""
    path = layout.speakers_file(root)
    names = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            fields = [f.strip() for f in line.split("|")]
            if not line.startswith(";") and len(fields) >= 5:
                names[fields[0]] = fields[4]
    voices = {sid: SYNTHETIC_NAME.match(name) for sid, name in names.items()}
    if voices and all(voices.values()):
        return {sid: f"{m[1]} {m[2]}" for sid, m in voices.items() if m}, "voice"
    return {}, "speaker"


def read_corpus(root: Path) -> Corpus:
    """The references and clusters of every dev/test split of POOLS whose manifest exists."""
    voices, unit = speaker_clusters(root)
    refs: dict[str, dict[str, str]] = {}
    clusters: dict[str, dict[str, str]] = {}
    for split in (s for splits in POOLS.values() for s in splits):
        path = layout.manifest_path(root, split)
        if path.is_file():
            rows = read_manifest(path)
            refs[split] = {r["id"]: r["text"] for r in rows}
            clusters[split] = {r["id"]: voices.get(str(r.get("speaker", "")), str(r.get("speaker", ""))) for r in rows}
    return Corpus(refs, clusters, unit, root)


def read_hypotheses(directory: Path) -> dict[str, dict[str, tuple[str | None, str]]]:
    """split -> id -> (reference or None, hypothesis) from the predictions-<split>.jsonl files that
    `conprune evaluate --predictions` writes, or their committed .jsonl.gz copies."""
    out: dict[str, dict[str, tuple[str | None, str]]] = {}
    for path in sorted(directory.glob("predictions-*.jsonl*")):
        match = PREDICTIONS.match(path.name)
        if match is None:
            continue
        text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            out[match["split"]] = {str(r["id"]): (r.get("ref"), str(r["hyp"])) for r in rows}
        except (ValueError, KeyError, TypeError) as exc:
            raise ConpruneError(f"{path}: not a predictions file ({exc}); each line must be JSON with `id` and "
                                f"`hyp`: evaluate the run again with `conprune evaluate --predictions`") from None
    return out


def pool(hyps: dict[str, dict[str, tuple[str | None, str]]], corpus: Corpus, splits: tuple[str, ...],
         where: Path) -> Pool:
    """Word errors of `hyps` on `splits`, checked utterance by utterance against the manifests."""
    keys, errors, words, clusters, strata = [], [], [], [], []
    for split in splits:
        if split not in corpus.refs:
            raise ConpruneError(f"{where}: has predictions for {split} but {layout.manifest_path(corpus.root, split)} "
                                f"does not exist; run `conprune data prepare --root {corpus.root} --splits {split}`")
        refs, got = corpus.refs[split], hyps[split]
        if got.keys() != refs.keys():
            raise ConpruneError(f"{where}: predictions-{split} has {len(got)} utterances, {len(got.keys() & refs.keys())} "
                                f"of the {len(refs)} in the manifest; evaluate the run on the corpus at {corpus.root}")
        for uid in sorted(refs):
            ref, hyp = refs[uid], got[uid][1]
            if got[uid][0] is not None and got[uid][0] != ref:
                raise ConpruneError(f"{where}: the reference of {split}/{uid} differs from the manifest's; "
                                    f"evaluate the run on the corpus at {corpus.root}")
            keys.append(f"{split}/{uid}")
            errors.append(edit_distance(ref.split(), hyp.split())["total"])
            words.append(len(ref.split()))
            clusters.append(corpus.clusters[split][uid])
            strata.append(split)
    order = np.argsort(keys, kind="stable")
    return Pool([keys[i] for i in order], np.array(errors, dtype=np.int64)[order],
                np.array(words, dtype=np.int64)[order], [clusters[i] for i in order], [strata[i] for i in order])


def run_pools(directory: Path, corpus: Corpus) -> dict[str, Pool]:
    """The dev / test / confirm pools of one run's predictions, each where all its splits were evaluated."""
    hyps = read_hypotheses(directory)
    return {name: pool(hyps, corpus, splits, directory) for name, splits in POOLS.items()
            if all(split in hyps for split in splits)}


def commit_predictions(source: Path, target: Path) -> list[Path]:
    """Copy a run's predictions-<split>.jsonl files to `target` as .jsonl.gz holding id and
    hypothesis only, sorted by id; return the files written."""
    written = []
    for split, items in read_hypotheses(source).items():
        lines = "".join(json.dumps({"id": uid, "hyp": items[uid][1]}) + "\n" for uid in sorted(items))
        path = target / f"predictions-{split}.jsonl.gz"
        with atomic_open(path, "wb", "committed predictions") as fh:
            fh.write(gzip.compress(lines.encode(), compresslevel=9, mtime=0))
        written.append(path)
    return written
