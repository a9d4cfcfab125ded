"""`results/demo/summary.json`: one row per method of the demo, the numbers issue 5 asks for.

Rows hold `method`, `target`, `params`, `macs` (per 10 s), `latency_ratio` (÷ teacher, from the
side-by-side `make bench`; baselines with the student's exact shapes share its ratio), `dev_wer`
and `test_wer` (word-weighted over dev-clean + dev-other and test-clean + test-other, fractions).

    python -m conprune.eval.demo_summary --data data/synth --out results/demo/summary.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conprune.data.manifest import atomic_write_text, read_manifest

RUNS = (("teacher", "none", "runs/teacher/results.json"),
        ("conprune", "params50", "runs/finetune/results.json"),
        ("magnitude", "params50", "runs/finetune-magnitude/results.json"),
        ("random", "params50", "runs/finetune-random/results.json"),
        ("dense_scratch", "params50", "runs/dense-scratch/results.json"),
        ("dense_kd", "params50", "runs/finetune-dense-kd/results.json"),
        ("conprune", "macs50", "runs/prune-macs/results.json"))
LATENCY_KEY = {"params50": "latency_ratio_params50", "macs50": "latency_ratio_macs50"}


def pooled(wer: dict[str, float], words: dict[str, int], splits: tuple[str, str]) -> float:
    """Corpus WER over several splits from per-split WERs, weighted by reference words."""
    total = sum(words[s] for s in splits)
    return sum(wer[s] * words[s] for s in splits) / total


def build(data: Path, bench: Path) -> list[dict]:
    words = {s: sum(len(r["text"].split()) for r in read_manifest(data / "manifests" / f"{s}.jsonl"))
             for s in ("dev-clean", "dev-other", "test-clean", "test-other")}
    ratios = json.loads(bench.read_text()) if bench.is_file() else {}
    rows = []
    for method, target, path in RUNS:
        if not Path(path).is_file():
            continue
        r = json.loads(Path(path).read_text())
        latency = 1.0 if target == "none" else ratios.get(LATENCY_KEY[target])
        if method.startswith("dense"):
            latency = None  # another architecture: not measured side by side yet
        rows.append({"method": method, "target": target, "params": r["params"], "macs": r["macs_per_utterance"],
                     "latency_ratio": latency, "dev_wer": pooled(r["wer"], words, ("dev-clean", "dev-other")),
                     "test_wer": pooled(r["wer"], words, ("test-clean", "test-other")), "source": path})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--bench", type=Path, default=Path("bench/results.json"))
    parser.add_argument("--out", type=Path, default=Path("results/demo/summary.json"))
    args = parser.parse_args(argv)
    rows = build(args.data, args.bench)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(rows, indent=1) + "\n")
    for row in rows:
        print(f"{row['method']:>10} {row['target']:>8}  dev {100 * row['dev_wer']:.1f} %  test {100 * row['test_wer']:.1f} %")


if __name__ == "__main__":
    main()
