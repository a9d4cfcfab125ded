"""LM-decoded WER in the report: rows of runs evaluated a second time with an n-gram LM
(`conprune sweep --lm`) gain `lm_*` WERs and an `lm_comparison` with conprune from the LM's
predictions, the verdicts say whether each greedy ranking holds under the LM, the table gains its
LM columns, and `conprune report --verify` rechecks the LM numbers from the committed copies."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from test_verify import _corpus, _run, _verify

from conprune.report.report import collect, markdown_table, write_report
from conprune.report.table_notes import table_note
from conprune.report.verdicts import HOLDS, REVERSES, TIE_UNDER_LM, goal_verdict, lm_ranking, target_verdict

DECODER = {"decoder": "beam", "search": "lexicon", "lm": "/somewhere/lm/words-4gram.bin", "beam": 64,
           "beam_token": 8, "beam_threshold": 25.0, "lm_weight": 0.5, "word_score": 1.0}
# run: (greedy error rate, seed), (LM error rate, seed) or None where the run has no LM evaluation
RUNS = {"teacher": ((0.15, 0), (0.08, 10)),
        "sweep/conprune-params50": ((0.2, 1), (0.1, 11)),
        "sweep/conprune-params50-s1": ((0.21, 2), (0.1, 12)),
        "sweep/magnitude_uniform-params50": ((0.4, 3), (0.25, 13)),  # conprune better, and under the LM
        "sweep/random_uniform-params50": ((0.35, 4), (0.1, 14)),  # conprune better, a tie under the LM
        "sweep/dense_kd-params50": ((0.4, 5), (0.01, 15)),  # conprune better, worse under the LM
        "sweep/magnitude_global-params50": ((0.4, 6), None)}  # greedy only


@pytest.fixture()
def lm_reported(tmp_path: Path) -> tuple[Path, Path, dict[str, dict]]:
    """(results folder, corpus root, summary rows by method) of a report over runs with LM evaluations."""
    manifests = _corpus(tmp_path / "data")
    for name, (greedy, lm) in RUNS.items():
        _run(tmp_path / "runs" / name, manifests, *greedy)
        if lm:
            _run(tmp_path / "runs" / name, manifests, *lm, suffix="-lm", decoder=DECODER)
    rows = collect(tmp_path / "runs", [], tmp_path / "data", tmp_path / "bench.json")
    write_report(rows, {}, {}, tmp_path / "results")
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    return tmp_path / "results", tmp_path / "data", {r["method"]: r for r in summary}


def test_rows_gain_lm_wers_and_a_comparison_from_the_lm_predictions(lm_reported) -> None:
    results, _, rows = lm_reported
    teacher, ours, plain = rows["teacher"], rows["conprune"], rows["magnitude_global"]
    for row in (teacher, ours):
        for name in ("dev", "test", "confirm"):
            errors, words = row["lm_word_errors"][name]
            assert row[f"lm_{name}_wer"] == errors / words
        assert row["lm_test_wer"] < row["test_wer"]
        assert row["lm_decoder"] == {"lm": "words-4gram.bin", "lm_weight": 0.5, "word_score": 1.0, "beam": 64}
    assert "lm_comparison" not in teacher and not any(key.startswith("lm") for key in plain)
    assert ours["lm_predictions"] == [{"seed": s, "dir": f"predictions/conprune-params50{f'-s{s}' if s else ''}/lm"}
                                      for s in (0, 1)]
    lines = gzip.decompress((results / "predictions/teacher/lm/predictions-test-other.jsonl.gz").read_bytes())
    assert set(json.loads(lines.splitlines()[0])) == {"id", "hyp"}
    magnitude = rows["magnitude_uniform"]
    lm = magnitude["lm_comparison"]
    assert set(lm) == {k for k in magnitude if k.startswith(("delta", "p_conprune", "seeds_", "cluster"))}
    assert lm["seeds_compared"] == [1, 2] and lm["delta_vs_conprune"] < magnitude["delta_vs_conprune"]
    assert 0 < lm["delta_ci95_seeds_clustered"][0] < lm["delta_seeds_clustered"]


def test_verdicts_say_whether_each_ranking_holds_under_the_lm(lm_reported) -> None:
    _, _, rows = lm_reported
    assert [lm_ranking(rows[m]) for m in ("magnitude_uniform", "random_uniform", "dense_kd")] == [
        HOLDS, TIE_UNDER_LM, REVERSES]
    assert lm_ranking(rows["magnitude_global"]) is None
    paragraph = target_verdict(list(rows.values()), "params50")
    assert "magnitude_uniform +" in paragraph and ": holds)" in paragraph
    assert ": tie under LM)" in paragraph and ": reverses)" in paragraph
    assert paragraph.count("(LM ") == 3
    goal = goal_verdict(list(rows.values()))
    assert "Under LM decoding the ranking holds for 1 of these 3 comparisons; tie under LM: random_uniform at " \
           "params50 (" in goal and "; reverses: dense_kd at params50 (" in goal


def test_table_gains_lm_columns_and_names_the_one_setting(lm_reported) -> None:
    _, _, rows = lm_reported
    table = markdown_table(list(rows.values())).splitlines()
    assert table[0].endswith("| LM test WER | LM Δ vs conprune [95 % CI] | steps | run |")
    plain = next(t for t in table if t.startswith("| magnitude_global "))
    assert "| – | – | " in plain
    note = table_note(list(rows.values()))
    assert "the same for every row (`words-4gram.bin`, LM weight 0.5, word score 1, beam 64)" in note
    assert "chose on dev for the teacher" in note


def test_verify_rechecks_the_lm_numbers(lm_reported, capsys) -> None:
    results, data, _ = lm_reported
    _verify(results, data)
    assert "all match" in capsys.readouterr().out
    summary = json.loads((results / "summary.json").read_text())
    row = next(r for r in summary if r["method"] == "dense_kd")
    row["lm_comparison"]["delta_vs_conprune"] += 1e-6
    (results / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit):
        _verify(results, data)
    assert "dense_kd params50: lm_comparison.delta_vs_conprune: summary.json has" in capsys.readouterr().err
    row["lm_comparison"]["delta_vs_conprune"] -= 1e-6
    del row["lm_predictions"]
    (results / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit):
        _verify(results, data)
    assert "dense_kd params50: no committed predictions (summary.json has no `lm_predictions`)" in \
        capsys.readouterr().err
