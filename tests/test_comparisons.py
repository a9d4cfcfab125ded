"""The summary's comparison columns: training budgets from the runs' logs (conprune = prune +
finetune), Δ vs conprune with its paired interval from the runs' predictions, and seed spreads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conprune.report.report import collect

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
WORDS = ["the", "a", "of", "and", "to", "in", "that", "he", "shall", "unto"]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _run(root: Path, name: str, error_rate: float, steps: int, seed: int, refs: dict[str, list[str]],
         student: Path | None = None) -> Path:
    """A finished run: CSV log with `steps` steps, DONE stamp, predictions and results.json."""
    run = root / name
    rng = np.random.default_rng(seed)
    wer = {}
    for split, texts in refs.items():
        hyps = [" ".join(w if rng.random() > error_rate else "xx" for w in t.split()) for t in texts]
        lines = [json.dumps({"id": f"u{i}", "ref": r, "hyp": h}) for i, (r, h) in enumerate(zip(texts, hyps))]
        _write(run / "predictions" / f"predictions-{split}.jsonl", "\n".join(lines) + "\n")
        wer[split] = sum(h.split().count("xx") for h in hyps) / sum(len(t.split()) for t in texts)
    _write(run / "csv/version_0/metrics.csv", "epoch,step,train/loss\n" + "".join(
        f"0,{s},1.0\n" for s in range(9, steps, 10)))
    _write(run / "DONE", f"fit wall time: {steps} s\n")
    if student is not None:
        _write(run / "csv/version_0/config.yaml", f"model:\n  init_args:\n    student_model: {student}\n")
    _write(run / "results.json", json.dumps({"wer": wer, "params": 1000, "macs_per_utterance": 5e8, "kept": None}))
    return run


@pytest.fixture()
def sweep(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    refs = {s: [" ".join(rng.choice(WORDS, int(rng.integers(5, 15)))) for _ in range(300)] for s in SPLITS}
    for split, texts in refs.items():
        rows = [{"id": f"u{i}", "text": t, "path": "x.flac", "num_samples": 16000, "sample_rate": 16000,
                 "speaker": "1"} for i, t in enumerate(texts)]
        _write(tmp_path / "data/manifests" / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    runs = tmp_path / "runs"
    prune = _run(runs / "sweep", "prune-params50", 0.5, 250, 1, refs)
    (prune / "results.json").unlink()
    for seed, rate in ((0, 0.20), (1, 0.21), (2, 0.19)):
        suffix = f"-s{seed}" if seed else ""
        _run(runs / "sweep", f"conprune-params50{suffix}", rate, 60, 10 + seed, refs, prune / "model.pt")
    _run(runs / "sweep", "magnitude_uniform-params50", 0.26, 310, 20, refs, runs / "sweep/baseline-x/model.pt")
    _run(runs / "sweep", "random_uniform-params50", 0.20, 310, 10, refs)
    return tmp_path


def test_budgets_deltas_and_seeds(sweep: Path) -> None:
    rows = {r["method"]: r for r in collect(sweep / "runs", [], sweep / "data", sweep / "bench.json")}
    conprune, worse, same = rows["conprune"], rows["magnitude_uniform"], rows["random_uniform"]
    assert conprune["train_steps"] == 250 + 60 and worse["train_steps"] == same["train_steps"] == 310
    assert conprune["train_seconds"] == 310.0
    assert conprune["seeds"] == [0, 1, 2] and "delta_vs_conprune" not in conprune
    pooled = []
    for name in ("conprune-params50", "conprune-params50-s1", "conprune-params50-s2"):
        wer = json.loads((sweep / "runs/sweep" / name / "results.json").read_text())["wer"]
        words = {s: sum(len(json.loads(line)["text"].split()) for line in
                        (sweep / "data/manifests" / f"{s}.jsonl").read_text().splitlines()) for s in SPLITS[2:]}
        pooled.append(sum(wer[s] * words[s] for s in words) / sum(words.values()))
    assert conprune["test_wer_mean"] == pytest.approx(np.mean(pooled))
    assert conprune["test_wer_sd"] == pytest.approx(np.std(pooled, ddof=1))
    assert worse["delta_vs_conprune"] == pytest.approx(worse["test_wer"] - conprune["test_wer"], abs=1e-9)
    lo, hi = worse["delta_ci95"]
    assert 0 < lo < worse["delta_vs_conprune"] < hi and worse["p_conprune_better"] > 0.99
    assert same["delta_ci95"][0] < 0 < same["delta_ci95"][1] or abs(same["delta_vs_conprune"]) < 0.01


def test_student_run_resolves_a_relative_path_from_the_folder_that_holds_runs(tmp_path, monkeypatch) -> None:
    """A fit records `student_model` as given on its command line (relative to where it ran); the
    report may run from another folder and still finds the prune run (its steps count too)."""
    from conprune.report.comparisons import student_run

    project = tmp_path / "project"
    prune = project / "runs" / "sweep" / "prune-params50"
    prune.mkdir(parents=True)
    (prune / "model.pt").write_bytes(b"")
    run = project / "runs" / "sweep" / "conprune-params50"
    (run / "csv" / "version_0").mkdir(parents=True)
    (run / "csv" / "version_0" / "config.yaml").write_text(
        "model:\n  init_args:\n    student_model: runs/sweep/prune-params50/model.pt\n")
    monkeypatch.chdir(tmp_path)
    assert student_run(run) == prune
