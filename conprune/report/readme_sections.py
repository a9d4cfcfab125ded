"""The bodies of the generated README / docs sections, each built from result files only."""

from __future__ import annotations

import json
from pathlib import Path

from conprune.report.logs import last_values, metrics_csv
from conprune.report.verdicts import clustered_note, delta_text, lm_note, row_verdict
from conprune.stages.checkpoint_io import load_checkpoint
from conprune.stages.methods import CONPRUNE


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


def prune_section(run: Path, bench: Path) -> str:
    """One table row per finished prune run (runs/prune, runs/prune-macs) from their summary.json."""

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
    if bench.is_file():
        info = json.loads(bench.read_text())
        text += (f"\nPrune step ÷ teacher step, same batch (8 x 500 frames) in one process: "
                 f"**{info['prune_step_ratio']:.2f}** ({info['machine']}, {info['date']}, `make bench`).\n")
    return text


def shipped_section(directory: Path) -> str:
    """The shipped teacher in a few lines, from its card."""
    card = json.loads((directory / "card.json").read_text())
    cfg = card["model_config"]

    def pct(key: str) -> str:
        return f"{100 * card[key]:.1f} %"

    return (f"Shipped teacher [`{directory.as_posix()}/`]({directory.as_posix()}/README.md): {cfg['num_layers']} × "
            f"{cfg['d_model']} Conformer-CTC, {card['params'] / 1e6:.2f} M parameters, "
            f"{card['macs_per_10s'] / 1e9:.2f} G MACs per 10 s, trained {card['train_steps']} steps in "
            f"{card['train_wall_s'] / 60:.0f} min on {card['hardware']}. Greedy WER, no LM: test-clean "
            f"{pct('test_clean_wer')}, test-other (voices never heard in training) {pct('test_other_wer')}; "
            f"dev-clean {pct('dev_clean_wer')}, dev-other {pct('dev_other_wer')}.{_lm(card)} {_goals(card)} Retrain it: "
            f"`{card['reproduce']}`.")


def _lm(card: dict) -> str:
    """The teacher's LM-decoded test WER, where its card has them (`conprune card-lm`)."""
    wer = card.get("lm", {}).get("wer", {})
    if "test-clean" not in wer or "test-other" not in wer:
        return ""
    return (f" With the corpus's word 4-gram (beam search tuned on dev, [docs/lm.md](docs/lm.md)): test-clean "
            f"{100 * wer['test-clean']:.1f} %, test-other {100 * wer['test-other']:.1f} %.")


GOALS = {"test_clean_wer": 0.25, "test_other_wer": 0.50}


def _goals(card: dict) -> str:
    """Whether the shipped teacher meets its WER goals (test-clean ≤ 25 %, held-out test-other ≤ 50 %)."""
    missed = [f"{key.removesuffix('_wer').replace('_', '-')} {100 * card[key]:.1f} % > {100 * goal:.0f} %"
              for key, goal in GOALS.items() if card[key] > goal]
    if not missed:
        return "Both WER goals (test-clean ≤ 25 %, test-other ≤ 50 %) are met."
    return (f"Goal not met: {', '.join(missed)} — the held-out voices stay far behind the seen ones "
            f"(see [docs/teacher.md](docs/teacher.md)).")


def demo_section(results: Path) -> str:
    """Every run of the demo's schedule: teacher, conprune and the baselines, with paired CIs (and
    the LM test WER where a row was decoded with an LM too; the verdicts then say if they hold)."""
    rows = json.loads((results / "summary.json").read_text())
    timing = results / "timing.json"
    lm = any("lm_test_wer" in r for r in rows)
    lines = [(f"| method | params | test WER (clean + other) | {'LM test WER | ' if lm else ''}seeds: mean ± sd "
              "| Δ vs conprune [95 % CI] | P(conprune better) | verdict | latency ÷ teacher | steps | fit s |"),
             f"|---|---:|---:|{'---:|' if lm else ''}---:|---:|---:|---|---:|---:|---:|"]
    conprune = {r["target"]: r for r in rows if r["method"] == CONPRUNE}
    for r in sorted(rows, key=lambda r: (r["target"] != "none", r["target"], r["method"] != CONPRUNE, r["method"])):
        delta, verdict = delta_text(r), "–"
        if "delta_vs_conprune" in r:
            verdict = row_verdict(r, conprune[r["target"]])
        p = r.get("p_conprune_better_clustered", r.get("p_conprune_better"))
        p = "–" if p is None else f"{p:.2f}"
        latency = "–" if r.get("latency_ratio") is None else f"{r['latency_ratio']:.2f}"
        seeds = "–"
        if "test_wer_sd" in r:
            seeds = f"{100 * r['test_wer_mean']:.1f} ± {100 * r['test_wer_sd']:.1f} % ({len(r['seeds'])})"
        name = r["method"] if r["target"] == "none" else f"{r['method']} ({r['target']})"
        seconds = f"{r['train_seconds']:.0f}" if r.get("train_seconds") else "–"
        lm_cell = (f"{100 * r['lm_test_wer']:.1f} % | " if "lm_test_wer" in r else "– | ") if lm else ""
        lines.append(f"| {name} | {r['params'] / 1e6:.2f} M | {100 * r['test_wer']:.1f} % | {lm_cell}{seeds} | {delta} "
                     f"| {p} | {verdict} | {latency} | {r.get('train_steps', '–')} | {seconds} |")
    took = ""
    if timing.is_file():
        info = json.loads(timing.read_text())
        took = f" `make demo` took {info['seconds'] / 60:.1f} min ({info['date']})."
    rule = "the paired 95 % CI of Δ (bootstrap over test utterances) excludes 0, else tie."
    if any("delta_ci95_seeds_clustered" in r for r in rows):
        rule = f"the 95 % CI of Δ excludes 0, else tie. {clustered_note(rows)}"
    if lm:
        rule += f" {lm_note(rows)}"
    return "\n".join(lines) + f"\n\nVerdict: {rule} From `{results.as_posix()}/summary.json`.{took}"
