"""Is a method really worse than conprune, or did it draw unlucky seeds and voices? A bootstrap
over speakers and seeds.

The paired bootstrap over utterances (significance.py) treats every utterance as independent and
the seed-0 run of each method as the method. Neither holds: the utterances of one speaker share
its voice, so their errors move together, and a second seed of the same recipe can land a point
away. Here each resample draws, within each test split, as many speakers as the split has (every
utterance of a drawn speaker, with replacement: a cluster bootstrap, Field & Welsh 2007), and one
seed of each method (with replacement), then takes the pooled word-weighted WER difference on the
drawn utterances. The interval therefore widens by both sources of variation a new run of the
comparison would meet. Its weak point is the number of clusters: with few speakers per split the
resamples take few distinct values and the percentile interval is too narrow, so the cluster
counts are reported with it and a split under MIN_CLUSTERS is called out.

Everything is counts: per-utterance word errors per seed and reference words, summed per cluster
first, so 10,000 resamples are one small matrix product.
"""

from __future__ import annotations

import numpy as np

from conprune.errors import ConpruneError

REPLICATIONS = 10_000
MIN_CLUSTERS = 10  # fewer speakers than this in a split: the interval is indicative only


def cluster_totals(errors: np.ndarray, words: np.ndarray,
                   labels: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(errors per seed and cluster, words per cluster, the cluster labels in that order) from
    per-utterance `errors` (seeds x utterances), `words` and each utterance's cluster label."""
    names = sorted(set(labels))
    position = {name: i for i, name in enumerate(names)}
    index = np.array([position[label] for label in labels], dtype=np.int64)
    totals = np.zeros((len(errors), len(names)), dtype=np.int64)
    np.add.at(totals, (slice(None), index), errors)
    cluster_words = np.zeros(len(names), dtype=np.int64)
    np.add.at(cluster_words, index, words)
    return totals, cluster_words, names


def clustered_bootstrap(errors_row: np.ndarray, errors_conprune: np.ndarray, words: np.ndarray,
                        clusters: list[str], strata: list[str], replications: int = REPLICATIONS,
                        seed: int = 0) -> dict:
    """Compare a method (per-utterance errors, one row per seed) with conprune on the same utterances.

    `clusters[u]` names utterance u's speaker and `strata[u]` its split; speakers are drawn within
    each split, so every resample keeps the clean/other mix of the test set. Returns `delta` (the
    row's mean-over-seeds pooled WER minus conprune's, a fraction), `delta_ci95` (2.5th and 97.5th
    percentiles of the resampled differences), `p_conprune_better` (share of resamples in which
    the row makes more errors than conprune; ties count for neither), `seeds` ([row, conprune]) and
    `clusters` (speakers per split).
    """
    errors_row, errors_conprune = np.atleast_2d(errors_row), np.atleast_2d(errors_conprune)
    if not (errors_row.shape[1] == errors_conprune.shape[1] == len(words) == len(clusters) == len(strata)):
        raise ConpruneError("bootstrap: the two methods' utterances, their words and their speakers differ in number; "
                            "evaluate every seed of both on the same corpus")
    if words.sum() == 0:
        raise ConpruneError("bootstrap: the references hold no words")
    keys = [f"{split}\t{speaker}" for split, speaker in zip(strata, clusters)]
    both = np.concatenate([errors_row, errors_conprune])
    totals, cluster_words, names = cluster_totals(both, words, keys)
    split_of = np.array([name.split("\t")[0] for name in names])
    rng = np.random.default_rng(seed)
    counts = np.zeros((replications, len(names)), dtype=np.int64)
    for split in sorted(set(split_of)):
        members = np.flatnonzero(split_of == split)
        k = len(members)
        draws = rng.integers(0, k, size=(replications, k)) + k * np.arange(replications)[:, None]
        counts[:, members] = np.bincount(draws.ravel(), minlength=replications * k).reshape(replications, k)
    m = len(errors_row)
    pick_row = rng.integers(0, m, size=replications)
    pick_conprune = m + rng.integers(0, len(errors_conprune), size=replications)
    sums = counts @ totals.T  # resample x seed (the row's seeds, then conprune's)
    ours, theirs = sums[np.arange(replications), pick_conprune], sums[np.arange(replications), pick_row]
    delta = (theirs - ours) / np.maximum(counts @ cluster_words, 1)
    total = int(words.sum())
    point = errors_row.sum(axis=1).mean() / total - errors_conprune.sum(axis=1).mean() / total
    return {"delta": float(point),
            "delta_ci95": [float(np.percentile(delta, 2.5)), float(np.percentile(delta, 97.5))],
            "p_conprune_better": int((theirs > ours).sum()) / replications,
            "seeds": [m, len(errors_conprune)],
            "clusters": {str(split): int((split_of == split).sum()) for split in sorted(set(split_of))}}


def few_clusters(clusters: dict[str, int]) -> list[str]:
    """The splits with fewer than MIN_CLUSTERS speakers, e.g. ['test-other']."""
    return [split for split, n in clusters.items() if n < MIN_CLUSTERS]
