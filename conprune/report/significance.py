"""Is one system's WER really lower than another's? A paired bootstrap over utterances.

Bisani & Ney (2004): resample the test utterances with replacement, recompute both systems' corpus
WER on each resample, and read the 95 % interval of the difference and the share of resamples in
which one system is better. Pairing (the same resampled utterances for both systems) removes the
between-utterance variance both systems share, which is most of it: a 1-point difference that a
per-system interval cannot resolve often has a paired interval well clear of 0. kaldialign (the
Kaldi `compute-wer-bootci` port) gives per-system intervals and P(better) but not the interval of
the difference, so it is computed here; the tests check P(better) against kaldialign's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from kaldialign import edit_distance

from conprune.errors import ConpruneError

REPLICATIONS = 10_000


def utterance_errors(refs: list[str], hyps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(word errors, reference words) per utterance: Levenshtein distance over words."""
    if len(refs) != len(hyps):
        raise ConpruneError(f"bootstrap: {len(refs)} references but {len(hyps)} hypotheses")
    errors = np.array([edit_distance(r.split(), h.split())["total"] for r, h in zip(refs, hyps)], dtype=np.int64)
    return errors, np.array([len(r.split()) for r in refs], dtype=np.int64)


def paired_bootstrap(refs: list[str], hyps_a: list[str], hyps_b: list[str], replications: int = REPLICATIONS,
                     seed: int = 0) -> dict:
    """Compare system b with system a on the same utterances.

    Returns `wer_a`, `wer_b`, `delta` (wer_b − wer_a, fractions), `delta_ci95` [lo, hi] (2.5th and
    97.5th percentiles of the resampled differences), `p_b_better` (share of resamples in which
    b makes fewer errors than a) and `p_a_better` (the reverse; ties count for neither).
    """
    errors_a, words = utterance_errors(refs, hyps_a)
    errors_b, _ = utterance_errors(refs, hyps_b)
    return paired_bootstrap_errors(errors_a, errors_b, words, replications, seed)


def paired_bootstrap_errors(errors_a: np.ndarray, errors_b: np.ndarray, words: np.ndarray,
                            replications: int = REPLICATIONS, seed: int = 0) -> dict:
    """`paired_bootstrap` from per-utterance word errors and reference words, in utterance order."""
    if words.sum() == 0:
        raise ConpruneError("bootstrap: the references hold no words")
    rng = np.random.default_rng(seed)
    deltas, better, worse = [], 0, 0
    for start in range(0, replications, 1000):
        picks = rng.integers(0, len(words), size=(min(1000, replications - start), len(words)))
        n = words[picks].sum(axis=1)
        ea, eb = errors_a[picks].sum(axis=1), errors_b[picks].sum(axis=1)
        deltas.append((eb - ea) / np.maximum(n, 1))
        better += int((eb < ea).sum())
        worse += int((ea < eb).sum())
    delta = np.concatenate(deltas)
    total = words.sum()
    return {"wer_a": float(errors_a.sum() / total), "wer_b": float(errors_b.sum() / total),
            "delta": float((errors_b.sum() - errors_a.sum()) / total),
            "delta_ci95": [float(np.percentile(delta, 2.5)), float(np.percentile(delta, 97.5))],
            "p_b_better": better / replications, "p_a_better": worse / replications,
            "utterances": len(words), "words": int(total)}


def read_predictions(directory: Path, splits: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """id -> (reference, hypothesis) over the `predictions-<split>.jsonl` files of `splits`."""
    out: dict[str, tuple[str, str]] = {}
    for split in splits:
        path = directory / f"predictions-{split}.jsonl"
        if not path.is_file():
            raise ConpruneError(f"bootstrap: {path} not found; evaluate with `conprune evaluate --predictions`")
        for line in path.read_text().splitlines():
            row = json.loads(line)
            out[f"{split}/{row['id']}"] = (row["ref"], row["hyp"])
    return out


def compare_runs(base: Path, other: Path, splits: tuple[str, ...] = ("test-clean", "test-other"),
                 replications: int = REPLICATIONS, seed: int = 0) -> dict:
    """`paired_bootstrap` of `other`'s predictions against `base`'s on the utterances both hold."""
    a, b = read_predictions(base, splits), read_predictions(other, splits)
    ids = sorted(set(a) & set(b))
    if len(ids) < len(a) or len(ids) < len(b):
        raise ConpruneError(f"bootstrap: {base} and {other} were evaluated on different utterances "
                            f"({len(a)} vs {len(b)}, {len(ids)} shared); evaluate both on the same corpus")
    return paired_bootstrap([a[i][0] for i in ids], [a[i][1] for i in ids], [b[i][1] for i in ids],
                            replications, seed)
