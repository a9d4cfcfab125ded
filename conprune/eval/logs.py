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
