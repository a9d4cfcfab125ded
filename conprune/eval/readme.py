"""Regenerate marked sections of README.md from result files, so no number there is typed by hand.

A section is the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.

    python -m conprune.eval.readme teacher --run runs/teacher --data data/synth [--readme README.md]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from conprune.data.manifest import atomic_write_text
from conprune.errors import ConpruneError
from conprune.eval.logs import last_values, metrics_csv
from conprune.lit.checkpoint_io import load_checkpoint


def replace_section(text: str, name: str, body: str) -> str:
    """Return `text` with the marked section `name` replaced by `body`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ConpruneError(f"README has no section {begin} ... {end}; add the two markers")
    return pattern.sub(lambda _: f"{begin}\n{body.strip()}\n{end}", text)


def teacher_section(run: Path) -> str:
    """Model size, training wall time and WER per split and voice of a finished teacher run."""
    ckpt = load_checkpoint(run / "checkpoints" / "best.ckpt")
    params = sum(v.numel() for k, v in ckpt["state_dict"].items()
                 if k.startswith("model.") and "running_" not in k and "num_batches" not in k)
    hp = ckpt.get("hyper_parameters", {})
    done = (run / "DONE").read_text().strip() if (run / "DONE").is_file() else "fit wall time: unknown"
    table = (run / "test" / "wer_by_voice.md").read_text()
    names = [f"val/wer/{s}" for s in ("dev-clean", "dev-other")]
    dev = last_values(metrics_csv(run / "csv"), names)
    dev_text = ", ".join(f"{n.split('/')[-1]} {100 * v:.1f} %" for n, v in dev.items())
    return (f"Demo teacher (`make teacher`): preset `{hp.get('preset')}`, {params / 1e6:.2f} M parameters, "
            f"vocabulary {hp.get('vocab_size')} (unigram pieces + blank), best checkpoint at step "
            f"{ckpt.get('global_step')}; {done} on this 2-core CPU machine. Greedy decoding, no LM. "
            f"`dev-other`/`test-other` are voices never heard in training. Validation WER at the "
            f"last step: {dev_text}.\n\n{table}")


def prune_section(run: Path) -> str:
    """One table row per finished prune run (runs/prune, runs/prune-macs) from their summary.json."""
    import json

    header = ("| run | target | deterministic sparsity (best ckpt) | dev WER gated student | dev WER teacher "
              "| fit wall time |")
    rows = [header, "|---|---|---:|---:|---:|---|"]
    for summary in sorted(run.parent.glob(run.name + "*/summary.json")):
        info = json.loads(summary.read_text())
        done = (summary.parent / "DONE").read_text().strip().removeprefix("fit wall time: ")
        rows.append(f"| {summary.parent.name} | -{100 * info['target']:.0f} % {info['target_metric']} | "
                    f"{100 * info['best_checkpoint_deterministic_sparsity']:.1f} % | "
                    f"{100 * info['student_dev_wer_at_target']:.1f} % | {100 * info['teacher_dev_wer']:.1f} % | "
                    f"{done} |")
    text = ("Demo (`make prune`, `make prune-macs`; 700 steps, ramp over 350; dev = dev-clean + dev-other "
            "pooled, greedy):\n\n" + "\n".join(rows) + "\n")
    bench = Path("bench/results.json")
    if bench.is_file():
        info = json.loads(bench.read_text())
        text += (f"\nPrune step ÷ teacher step, same batch (8 x 500 frames) in one process: "
                 f"**{info['prune_step_ratio']:.2f}** ({info['machine']}, {info['date']}, `make bench`).\n")
    return text


COMPARISON = (("teacher (dense)", "runs/teacher/results.json"),
              ("conprune −50 % params, after prune", "runs/prune/results.json"),
              ("conprune −50 % params + finetune", "runs/finetune/results.json"),
              ("magnitude pruning, same shapes + finetune", "runs/finetune-magnitude/results.json"),
              ("random pruning, same shapes + finetune", "runs/finetune-random/results.json"),
              ("dense, same params, from scratch", "runs/dense-scratch/results.json"),
              ("dense, same params, distillation only", "runs/finetune-dense-kd/results.json"),
              ("conprune −50 % MACs, after prune", "runs/prune-macs/results.json"))


def comparison_section(rows: tuple[tuple[str, str], ...] = COMPARISON) -> str:
    """Methods side by side from each run's `conprune evaluate` results (missing runs are skipped)."""
    import json

    lines = ["| model | params | MACs / 10 s | dev-clean | dev-other | test-clean | test-other |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, path in rows:
        if not Path(path).is_file():
            continue
        r = json.loads(Path(path).read_text())
        wer = r["wer"]
        cells = [f"{100 * wer[s]:.1f} %" if s in wer else "–" for s in ("dev-clean", "dev-other", "test-clean",
                                                                          "test-other")]
        lines.append(f"| {label} | {r['params'] / 1e6:.2f} M | {r['macs_per_utterance'] / 1e9:.2f} G | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nGreedy CTC, no LM; from `runs/*/results.json` (`make evaluate baselines`).\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=["teacher", "prune", "comparison"])
    parser.add_argument("--run", type=Path, default=Path("runs/teacher"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    args = parser.parse_args()
    if args.section == "comparison":
        body = comparison_section()
    else:
        body = teacher_section(args.run) if args.section == "teacher" else prune_section(args.run)
    atomic_write_text(args.readme, replace_section(args.readme.read_text(), args.section, body))
    print(body)


if __name__ == "__main__":
    main()
