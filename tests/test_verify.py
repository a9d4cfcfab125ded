"""`conprune report` commits every run's hypotheses next to summary.json, and `conprune report
--verify` recomputes every number of the summary from them: it passes on what the report wrote
and exits 1, naming the mismatch, once one hypothesis or one number is edited."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from conprune.cli import main
from conprune.report.report import collect, markdown_table, write_report
from conprune.report.table_notes import table_note

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other", "test-confirm-clean", "test-confirm-other")
WORDS = ["the", "a", "of", "and", "to", "in", "that", "he", "shall", "unto"]
VOICES = {"test-clean": ("espeak en-us", "flite kal16", "piper joe"), "test-other": ("flite slt", "espeak en-029")}


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _corpus(root: Path) -> dict[str, list[dict]]:
    """Manifests of every split (two speakers per voice) and a synthetic SPEAKERS.TXT."""
    rng = np.random.default_rng(0)
    manifests, speakers, sid = {}, [";ID      |SEX| SUBSET           |MINUTES| NAME"], 1000
    for split in SPLITS:
        voices = VOICES.get(split.replace("confirm-", ""), ("espeak en",))
        rows = []
        for voice in voices:
            for variant in range(2):
                speakers.append(f"{sid:<8}| M | {split:<16} |  1.00 | {voice}+m{variant} pitch 1.00 tempo 1.00")
                rows += [{"id": f"{sid}-{sid * 10}-{u:04d}", "text": " ".join(rng.choice(WORDS, int(rng.integers(3, 12)))),
                          "path": "x.flac", "num_samples": 16000, "sample_rate": 16000, "speaker": str(sid)}
                         for u in range(6)]
                sid += 1
        manifests[split] = rows
        _write(root / "manifests" / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    _write(root / "LibriSpeech" / "SPEAKERS.TXT", "\n".join(speakers) + "\n")
    return manifests


def _run(run: Path, manifests: dict[str, list[dict]], error_rate: float, seed: int, suffix: str = "",
         decoder: dict | None = None) -> None:
    """A finished run: per-split predictions (substitutions only) and the results.json they give;
    with suffix "-lm", an LM evaluation's predictions-lm/ and results-lm.json (with `decoder`)."""
    rng = np.random.default_rng(seed)
    wer = {}
    for split, rows in manifests.items():
        hyps = [" ".join(w if rng.random() > error_rate else "xx" for w in r["text"].split()) for r in rows]
        _write(run / f"predictions{suffix}" / f"predictions-{split}.jsonl", "".join(
            json.dumps({"id": r["id"], "speaker": r["speaker"], "ref": r["text"], "hyp": h}) + "\n"
            for r, h in zip(rows, hyps)))
        wer[split] = sum(h.split().count("xx") for h in hyps) / sum(len(r["text"].split()) for r in rows)
    kept = [{"layer": 0, "heads": 2, "heads_dense": 4, "ffn1": 16, "ffn1_dense": 32, "ffn2": 16, "ffn2_dense": 32,
             "conv": 12, "conv_dense": 16}]
    _write(run / f"results{suffix}.json", json.dumps({"wer": wer, "params": 2_000_000, "macs_per_utterance": 5e8,
                                                      "kept": kept, **({"decoder": decoder} if decoder else {})}))


@pytest.fixture()
def reported(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    """(results folder, corpus root, rows) of a report over conprune (3 seeds), uniform magnitude
    (1 seed), random (2 seeds) and the teacher."""
    manifests = _corpus(tmp_path / "data")
    runs = tmp_path / "runs"
    _run(runs / "teacher", manifests, 0.15, 0)
    for name, rate, seed in (("conprune-params50", 0.2, 1), ("conprune-params50-s1", 0.22, 2),
                             ("conprune-params50-s2", 0.19, 3), ("magnitude_uniform-params50", 0.35, 4),
                             ("random_uniform-params50", 0.3, 5), ("random_uniform-params50-s1", 0.31, 6)):
        _run(runs / "sweep" / name, manifests, rate, seed)
    rows = collect(runs, [], tmp_path / "data", tmp_path / "bench.json")
    write_report(rows, {}, {}, tmp_path / "results")
    return tmp_path / "results", tmp_path / "data", rows


def _verify(results: Path, data: Path) -> None:
    main(["report", "--verify", "--results", str(results), "--data", str(data)])


def test_report_commits_predictions_and_verify_recomputes_every_number(reported, capsys) -> None:
    results, data, _ = reported
    summary = {r["method"]: r for r in json.loads((results / "summary.json").read_text())}
    seeded, ours = summary["random_uniform"], summary["conprune"]
    assert ours["predictions"] == [{"seed": s, "dir": f"predictions/conprune-params50{f'-s{s}' if s else ''}"}
                                   for s in (0, 1, 2)]
    lines = gzip.decompress((results / "predictions/teacher/predictions-test-other.jsonl.gz").read_bytes())
    assert set(json.loads(lines.splitlines()[0])) == {"id", "hyp"}
    assert seeded["seeds_compared"] == [2, 3] and summary["magnitude_uniform"]["seeds_compared"] == [1, 3]
    assert seeded["clusters"] == {"test-clean": 3, "test-other": 2} and seeded["cluster_unit"] == "voice"
    lo, hi = summary["magnitude_uniform"]["delta_ci95_seeds_clustered"]
    assert 0 < lo < summary["magnitude_uniform"]["delta_seeds_clustered"] < hi
    errors, words = ours["word_errors"]["confirm"]
    assert ours["confirm_wer"] == errors / words and "confirm_wer" in summary["teacher"]
    assert "_runs" not in ours and "_pools" not in ours
    _verify(results, data)
    assert "all match" in capsys.readouterr().out


def test_committed_predictions_are_byte_stable(reported) -> None:
    results, _, rows = reported
    files = {p: p.read_bytes() for p in results.glob("predictions/*/*.gz")}
    assert len(files) == 7 * len(SPLITS)
    write_report(rows, {}, {}, results)
    assert files == {p: p.read_bytes() for p in results.glob("predictions/*/*.gz")}


def test_one_edited_hypothesis_fails_the_check(reported, capsys) -> None:
    results, data, _ = reported
    path = results / "predictions/magnitude_uniform-params50/predictions-test-other.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "hyp": first["hyp"] + " xx"})
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(SystemExit) as exc:
        _verify(results, data)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("verify: MISMATCH magnitude_uniform params50: word_errors.test[0]: summary.json has")
    assert err.count("\n") == 1


def test_an_edited_interval_or_a_missing_record_fails_the_check(reported, capsys) -> None:
    results, data, _ = reported
    summary = json.loads((results / "summary.json").read_text())
    row = next(r for r in summary if r["method"] == "random_uniform")
    row["delta_ci95_seeds_clustered"][1] += 1e-6
    (results / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit):
        _verify(results, data)
    assert "random_uniform params50: comparison.delta_ci95_seeds_clustered[1]" in capsys.readouterr().err
    row["delta_ci95_seeds_clustered"][1] -= 1e-6
    del next(r for r in summary if r["method"] == "teacher")["predictions"]
    (results / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit):
        _verify(results, data)
    assert "teacher: no committed predictions" in capsys.readouterr().err


def test_table_shows_seed_aware_and_confirm_columns(reported) -> None:
    _, _, rows = reported
    table = markdown_table(rows).splitlines()
    assert "| confirm WER | Δ test WER vs conprune [95 % CI] | P(conprune better) | seeds · clusters |" in table[0]
    line = next(t for t in table if t.startswith("| random_uniform "))
    assert "| 2 × 3 · 3 + 2 |" in line
    assert "LM" not in table[0] and not any(key.startswith("lm") for r in rows for key in r)
    note = table_note(rows)
    assert "(3 test-clean and 2 test-other voices: too few clusters (under 10 in test-clean, test-other)" in note
    assert "Confirm WER: test-confirm-clean + test-confirm-other" in note
