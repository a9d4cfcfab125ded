"""Which learning rate a tuned method is reported at: the one with the lowest dev WER.

`conprune sweep --lrs` trains a method's final run at several learning rates (runs named
`<run>-lr<LR>`). A rival tuned on test, or not at all, makes a comparison unfair either way, so the
choice is made here, on dev only, the same way for conprune and for every baseline: per method and
target, the learning rate whose seed-0 run has the lowest pooled dev WER (where a learning rate has
no seed-0 run, the mean dev WER of its seeds). Only that learning rate's runs (every seed) stay in
the table; each kept row records the whole grid in `lr_grid`, so the losing points are reported too.
"""

from __future__ import annotations

import logging
import statistics

log = logging.getLogger(__name__)


def grid_dev_wer(rows: list[dict]) -> float:
    """The dev WER that ranks one learning rate: its seed-0 run's, else the mean over its seeds."""
    seed0 = [r["dev_wer"] for r in rows if r.get("seed", 0) == 0]
    return seed0[0] if seed0 else statistics.mean(r["dev_wer"] for r in rows)


def choose_learning_rates(rows: list[dict]) -> list[dict]:
    """The rows with, per method × target, only the runs at the learning rate chosen on dev; each
    of them gets `lr_grid` ({lr: dev WER}, '' written as `config`) and `lr_chosen_on: dev` where
    more than one learning rate ran."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["target"]), {}).setdefault(row.get("lr", ""), []).append(row)
    kept: list[dict] = []
    for (method, target), by_lr in groups.items():
        if len(by_lr) == 1:
            kept += next(iter(by_lr.values()))
            continue
        grid = {lr: grid_dev_wer(runs) for lr, runs in by_lr.items()}
        best = min(grid, key=lambda lr: (grid[lr], lr))
        for row in by_lr[best]:
            row.update(lr_grid={(lr or "config"): grid[lr] for lr in sorted(grid)}, lr_chosen_on="dev")
        kept += by_lr[best]
        log.info("report: %s %s at lr %s (dev WER %.4f), of %s", method, target, best or "config", grid[best],
                 ", ".join(f"{lr or 'config'}: {w:.4f}" for lr, w in sorted(grid.items())))
    return kept
