"""The seed-aware, speaker-clustered bootstrap: the same numbers as a plain loop over resamples,
wider than the utterance interval where speakers or seeds vary, and the verdicts read it."""

from __future__ import annotations

import numpy as np
import pytest

from conprune.errors import ConpruneError
from conprune.report.clustered import clustered_bootstrap, few_clusters
from conprune.report.significance import paired_bootstrap_errors
from conprune.report.verdicts import classify, delta_text, target_verdict


def _corpus(seed: int = 0, speakers: tuple[int, int] = (9, 4), per_speaker: int = 40):
    """Words, speaker and split per utterance of a two-split test set."""
    rng = np.random.default_rng(seed)
    clusters, strata = [], []
    for split, n in zip(("test-clean", "test-other"), speakers):
        for s in range(n):
            clusters += [f"voice{s}"] * per_speaker
            strata += [split] * per_speaker
    return rng.integers(4, 30, size=len(clusters)), clusters, strata


def _loop(errors_row, errors_conprune, words, clusters, strata, replications, seed):
    """The bootstrap written as the definition reads, one resample at a time (same RNG draws)."""
    rng = np.random.default_rng(seed)
    keys = sorted({(s, c) for s, c in zip(strata, clusters)})
    members = {k: [u for u in range(len(words)) if (strata[u], clusters[u]) == k] for k in keys}
    drawn = [[] for _ in range(replications)]
    for split in sorted({s for s, _ in keys}):
        names = [k for k in keys if k[0] == split]
        draws = rng.integers(0, len(names), size=(replications, len(names)))
        for r in range(replications):
            drawn[r] += [u for i in draws[r] for u in members[names[i]]]
    a = rng.integers(0, len(errors_row), size=replications)
    c = rng.integers(0, len(errors_conprune), size=replications)
    deltas, wins = [], 0
    for r in range(replications):
        ea, ec = errors_row[a[r]][drawn[r]].sum(), errors_conprune[c[r]][drawn[r]].sum()
        deltas.append((ea - ec) / words[drawn[r]].sum())
        wins += ea > ec
    return np.percentile(deltas, [2.5, 97.5]), wins / replications


def test_matches_a_plain_loop_over_resamples() -> None:
    words, clusters, strata = _corpus(per_speaker=5)
    rng = np.random.default_rng(1)
    row = np.stack([rng.binomial(words, p) for p in (0.42, 0.45)])
    ours = np.stack([rng.binomial(words, p) for p in (0.40, 0.38, 0.41)])
    got = clustered_bootstrap(row, ours, words, clusters, strata, replications=300, seed=7)
    ci, p = _loop(row, ours, words, clusters, strata, 300, 7)
    assert got["delta_ci95"] == pytest.approx(list(ci), abs=1e-12) and got["p_conprune_better"] == p
    assert got["delta"] == pytest.approx(row.sum(1).mean() / words.sum() - ours.sum(1).mean() / words.sum())
    assert got["seeds"] == [2, 3] and got["clusters"] == {"test-clean": 9, "test-other": 4}
    assert clustered_bootstrap(row, ours, words, clusters, strata, replications=300, seed=7) == got


def test_speaker_and_seed_variation_widen_the_interval() -> None:
    words, clusters, strata = _corpus()
    rng = np.random.default_rng(2)
    voice_effect = {c: rng.normal(0, 0.08) for c in set(clusters)}  # the row is worse on some voices only
    p_row = np.clip([0.45 + voice_effect[c] for c in clusters], 0, 1)
    row = rng.binomial(words, p_row)[None]
    ours = np.stack([rng.binomial(words, p) for p in (0.40, 0.43, 0.37)])  # seeds a few points apart
    paired = paired_bootstrap_errors(ours[0], row[0], words)
    clustered = clustered_bootstrap(row, ours, words, clusters, strata)
    (lo, hi), (plo, phi) = clustered["delta_ci95"], paired["delta_ci95"]
    assert hi - lo > 2 * (phi - plo)
    assert clustered["delta_ci95"][0] < clustered["delta"] < clustered["delta_ci95"][1]
    assert few_clusters(clustered["clusters"]) == ["test-clean", "test-other"]


def test_bad_shapes_are_one_line_errors() -> None:
    words, clusters, strata = _corpus(per_speaker=2)
    with pytest.raises(ConpruneError, match="^bootstrap: .* differ in number; evaluate every seed"):
        clustered_bootstrap(np.ones((1, len(words) - 1)), np.ones((2, len(words))), words, clusters, strata)
    with pytest.raises(ConpruneError, match="^bootstrap: the references hold no words"):
        clustered_bootstrap(np.ones((1, 3)), np.ones((1, 3)), np.zeros(3, dtype=int), ["a"] * 3, ["s"] * 3)


def _row(delta: float, ci: tuple[float, float], clustered: tuple[float, float, float] | None = None) -> dict:
    row = {"method": "magnitude_uniform", "target": "params50", "params": 2.2e6, "test_wer": 0.4 + delta,
           "delta_vs_conprune": delta, "delta_ci95": list(ci), "p_conprune_better": 0.99}
    if clustered:
        row.update(delta_seeds_clustered=clustered[0], delta_ci95_seeds_clustered=list(clustered[1:]),
                   p_conprune_better_clustered=0.9, seeds_compared=[1, 3], clusters={"test-clean": 9, "test-other": 4},
                   cluster_unit="voice")
    return row


def test_verdicts_read_the_seed_aware_interval_and_say_which() -> None:
    conprune = {"method": "conprune", "target": "params50", "params": 2.2e6, "test_wer": 0.4}
    paired_only = _row(0.02, (0.01, 0.03))
    seeded = _row(0.02, (0.01, 0.03), (0.021, -0.004, 0.05))
    assert classify(paired_only, conprune)[0] == "conprune better"
    assert classify(seeded, conprune)[0] == "tie" and delta_text(seeded) == "+2.1 [-0.4, +5.0]"
    text = target_verdict([conprune, seeded], "params50")
    assert "Intervals resample seeds and test voices (9 test-clean and 4 test-other voices: too few clusters (under 10 in test-clean, test-other)" in text
    assert "tie with magnitude_uniform +2.1 [-0.4, +5.0]" in text
    assert "Intervals" not in target_verdict([conprune, paired_only], "params50")
    mixed = target_verdict([conprune, seeded, {**paired_only, "method": "random_uniform"}], "params50")
    assert "for magnitude_uniform; the utterances of the seed-0 runs for the others" in mixed
