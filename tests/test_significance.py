"""The paired bootstrap: its P(better) agrees with kaldialign's (Kaldi's compute-wer-bootci), its
interval holds the observed difference, resolves a real difference and not a tie, and reads
`conprune evaluate --predictions` files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kaldialign import bootstrap_wer_ci

from conprune.errors import ConpruneError
from conprune.report.significance import compare_runs, paired_bootstrap, utterance_errors

WORDS = ["the", "a", "of", "and", "to", "in", "that", "he", "shall", "unto"]


def _system(refs: list[str], error_rate: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(w if rng.random() > error_rate else "xx" for w in r.split()) for r in refs]


@pytest.fixture(scope="module")
def refs() -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, int(rng.integers(4, 20)))) for _ in range(600)]


def test_errors_per_utterance() -> None:
    errors, words = utterance_errors(["a b c", "d e"], ["a x c", "d e f"])
    assert errors.tolist() == [1, 1] and words.tolist() == [3, 2]


def test_agrees_with_kaldialign(refs: list[str]) -> None:
    a, b = _system(refs, 0.20, 1), _system(refs, 0.18, 2)
    ours = paired_bootstrap(refs, a, b, replications=4000, seed=0)
    kaldi = bootstrap_wer_ci([r.split() for r in refs], [h.split() for h in a], [h.split() for h in b],
                             replications=4000, seed=0)
    assert ours["wer_a"] == pytest.approx(kaldi["system1"]["wer"], abs=2e-3)
    assert ours["p_b_better"] == pytest.approx(kaldi["p_s2_improv_over_s1"], abs=0.03)
    lo, hi = ours["delta_ci95"]
    assert lo < ours["delta"] < hi and ours["delta"] == pytest.approx(ours["wer_b"] - ours["wer_a"])


def test_resolves_a_difference_not_a_tie(refs: list[str]) -> None:
    a = _system(refs, 0.25, 1)
    clear = paired_bootstrap(refs, a, _system(refs, 0.15, 2))
    assert clear["delta_ci95"][1] < 0 and clear["p_b_better"] > 0.99
    tie = paired_bootstrap(refs, a, _system(refs, 0.25, 3))
    assert tie["delta_ci95"][0] < 0 < tie["delta_ci95"][1] and 0.02 < tie["p_b_better"] < 0.98


def test_compare_runs_reads_predictions(tmp_path: Path, refs: list[str]) -> None:
    for name, rate in (("base", 0.3), ("other", 0.1)):
        for split in ("test-clean", "test-other"):
            half = refs[:300] if split == "test-clean" else refs[300:]
            lines = [json.dumps({"id": f"u{i}", "ref": r, "hyp": h})
                     for i, (r, h) in enumerate(zip(half, _system(half, rate, 4)))]
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"predictions-{split}.jsonl").write_text("\n".join(lines) + "\n")
    result = compare_runs(tmp_path / "base", tmp_path / "other", replications=1000)
    assert result["utterances"] == 600 and result["delta_ci95"][1] < 0
    (tmp_path / "other" / "predictions-test-other.jsonl").write_text("")
    with pytest.raises(ConpruneError, match="different utterances"):
        compare_runs(tmp_path / "base", tmp_path / "other", replications=100)
