"""`results/demo/summary.json`: one row per method of the demo, the numbers issue 5 asks for.

Rows hold `method`, `target`, `params`, `macs` (per 10 s), `latency_ratio` (÷ teacher, from the
side-by-side `make bench`; baselines with the student's exact shapes share its ratio), `dev_wer`
and `test_wer` (word-weighted over dev-clean + dev-other and test-clean + test-other, fractions).

    python -m conprune.eval.demo_summary --data data/synth --runs runs/demo --out results/demo/summary.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conprune.data.manifest import read_manifest
from conprune.eval.runs import RunRef, discover_runs
from conprune.io_atomic import atomic_write_text


def pooled(wer: dict[str, float], words: dict[str, int], splits: tuple[str, str]) -> float:
    """Corpus WER over several splits from per-split WERs, weighted by reference words."""
    total = sum(words[s] for s in splits)
    return sum(wer[s] * words[s] for s in splits) / total


def split_words(data: Path) -> dict[str, int]:
    """Reference words per dev/test split, the weights that pool per-split WERs into one number."""
    return {s: sum(len(r["text"].split()) for r in read_manifest(data / "manifests" / f"{s}.jsonl"))
            for s in ("dev-clean", "dev-other", "test-clean", "test-other")}


def summary_rows(refs: list[RunRef], words: dict[str, int], ratios: dict) -> list[dict]:
    """One summary row per run. The latency ratio is `make bench`'s side-by-side measurement for the
    target (`latency_ratio_<target>`), which pruning baselines with the student's shapes share;
    None where the bench has not measured that target."""
    rows = []
    for ref in refs:
        r = json.loads(ref.path.read_text())
        latency = 1.0 if ref.target == "none" else ratios.get(f"latency_ratio_{ref.target}")
        if ref.method.startswith("dense"):
            latency = None  # another architecture: not measured side by side yet
        rows.append({"method": ref.method, "target": ref.target, "params": r["params"],
                     "macs": r["macs_per_utterance"], "latency_ratio": latency,
                     "dev_wer": pooled(r["wer"], words, ("dev-clean", "dev-other")),
                     "test_wer": pooled(r["wer"], words, ("test-clean", "test-other")), "source": str(ref.path)})
    return rows


def build(data: Path, bench: Path, refs: list[RunRef] | None = None) -> list[dict]:
    """Summary rows of `refs`, by default the demo's fixed runs (the sweep has its own report)."""
    refs = discover_runs(sweep=False) if refs is None else refs
    ratios = json.loads(bench.read_text()) if bench.is_file() else {}
    return summary_rows(refs, split_words(data), ratios)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="stage output root (runs, runs/demo)")
    parser.add_argument("--bench", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--out", type=Path, default=Path("results/demo/summary.json"))
    args = parser.parse_args(argv)
    rows = build(args.data, args.bench, discover_runs(args.runs, sweep=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(rows, indent=1) + "\n")
    for row in rows:
        print(f"{row['method']:>10} {row['target']:>8}  dev {100 * row['dev_wer']:.1f} %  test {100 * row['test_wer']:.1f} %")


if __name__ == "__main__":
    main()
