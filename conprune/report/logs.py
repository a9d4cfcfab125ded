"""Read Lightning's CSV logs (the local copy every run keeps, W&B or not)."""

from __future__ import annotations

import csv
from pathlib import Path

from conprune.errors import ConpruneError


def metrics_csv(run: Path) -> Path:
    """The metrics.csv of a run directory (runs/<stage>)."""
    found = sorted(run.rglob("metrics.csv"))
    if not found:
        raise ConpruneError(f"no metrics.csv under {run}: has this stage been run (`make <stage>`)?")
    return found[-1]


def last_values(path: Path, names: list[str]) -> dict[str, float]:
    """The last logged value of each metric in a Lightning CSV log."""
    found: dict[str, float] = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            for name in names:
                if row.get(name):
                    found[name] = float(row[name])
    return found


def series(path: Path, names: list[str]) -> dict[str, list[tuple[int, float]]]:
    """Each metric's (step, value) pairs in logging order; Lightning writes one row per log call,
    so a metric's cells are empty in the rows of other metrics and those rows are skipped."""
    found: dict[str, list[tuple[int, float]]] = {name: [] for name in names}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            step = row.get("step")
            for name in names:
                if row.get(name) and step:
                    found[name].append((int(float(step)), float(row[name])))
    return found
