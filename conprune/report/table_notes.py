"""The notes under the report's table: what each column means, and the budgets it compares at.

Each note appears only where a row needs it (a confirm column, seed-aware intervals, LM columns, a
tuned learning rate, an equal-compute row), so a report without them reads as before.
"""

from __future__ import annotations

from pathlib import Path

from conprune.report.runs import parse_run_name
from conprune.report.verdicts import clustered_note, lm_note

TABLE_NOTE = ("WER: greedy CTC, no LM, word-weighted over dev-clean + dev-other and test-clean + test-other. "
              "Δ: the row's pooled test WER minus conprune's at the same target, with the 95 % interval of a "
              "paired bootstrap over utterances (10,000 resamples); a method differs from conprune only where "
              "the interval excludes 0. Steps: optimizer steps of the row's training (conprune: prune + finetune). "
              "Latency: `make bench`'s side-by-side CPU ratio for the target's conprune student (baselines with "
              "its shapes share it); – where not measured (dense baselines, targets the bench has not timed).")
CONFIRM_NOTE = ("Confirm WER: test-confirm-clean + test-confirm-other, a text (Moby Dick unless the corpus was made "
                "with another) and voice settings that no design decision saw; reported only, no verdict reads it.")


def table_note(rows: list[dict]) -> str:
    """TABLE_NOTE, plus what the seed-aware intervals and the confirm and LM columns are where rows
    have them."""
    extra = [clustered_note(rows)] if any("delta_ci95_seeds_clustered" in r for r in rows) else []
    extra += [CONFIRM_NOTE] if any("confirm_wer" in r for r in rows) else []
    extra += [lm_note(rows)] if any("lm_test_wer" in r for r in rows) else []
    extra += [LR_NOTE] if any("lr_grid" in r for r in rows) else []
    extra += [COMPUTE_NOTE] if any(r.get("budget") == "compute" for r in rows) else []
    return " ".join([TABLE_NOTE, *extra])


COMPUTE_NOTE = ("Budget: every row trains for conprune's steps (`budget: steps`) except the `*_compute` rows, "
                "which train for as many steps as cost conprune's training compute at the target: MACs per step "
                "= teacher forward + 3 × student forward, conprune's gate phase at the teacher's width "
                "(`conprune/pruning/training_compute.py`).")
LR_NOTE = ("Learning rate: a method trained at several (`conprune sweep --lrs`, run names ending `-lr<LR>`) is "
           "reported at the one with the lowest seed-0 dev WER, conprune and the baselines alike; every grid "
           "point's dev WER is in summary.json's `lr_grid`.")


def steps_note(steps: dict[str, int]) -> str:
    """The training budget of every stage, grouped by step count, so equal-steps comparisons can be
    checked, not trusted: a run that trained a different number of steps shows up as its own group."""
    if not steps:
        return "Training steps per stage: no CSV logs found."
    groups: dict[int, list[str]] = {}
    for name, n in steps.items():
        groups.setdefault(n, []).append(name)
    parts = []
    for n, names in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        kinds = sorted({(parse_run_name(Path(name).name) or (Path(name).name,))[0] for name in names})
        runs = f"{len(names)} run" + ("s" if len(names) > 1 else "")
        parts.append(f"{n} steps: {runs} ({', '.join(kinds)})")
    return f"Training steps per stage (from the CSV logs): {'; '.join(parts)}. conprune = prune + finetune."
