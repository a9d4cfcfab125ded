"""Read Lightning's CSV logs (the local copy every run keeps, W&B or not)."""

from __future__ import annotations

import csv
import io
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


def run_logs(run: Path) -> list[Path]:
    """The run's CSV logs in order: a resumed run writes a new `csv/version_N/metrics.csv`."""
    return sorted((run / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[-1]))


def trained_steps(run: Path) -> int:
    """Optimizer steps a run took: the last step with a training loss, plus one. (The LR monitor
    logs at the step after the last one, so the largest step in the file overcounts by one.)"""
    steps = [s for log in run_logs(run) for s, _ in series(log, ["train/loss"])["train/loss"]]
    return max(steps) + 1 if steps else 0


def fit_wall_seconds(run: Path) -> float | None:
    """The fit's wall time from the run's DONE stamp (`fit wall time: N s`, written by `make` and
    `conprune sweep` when the fit finished); None when the run has no such stamp."""
    done = run / "DONE"
    text = done.read_text() if done.is_file() else ""
    if "fit wall time" not in text:
        return None
    try:
        return float(text.split(":")[-1].split()[0])
    except (IndexError, ValueError):
        return None


def merged_log(run: Path) -> str:
    """One CSV of a run's whole training, resumed parts included: each part's rows up to the step the
    next part resumed from (the steps after that checkpoint were trained again), columns united."""
    parts = []
    for log in run_logs(run):
        with open(log) as fh:
            parts.append(list(csv.DictReader(fh)))
    rows: list[dict] = []
    for i, part in enumerate(parts):
        later = [int(float(r["step"])) for p in parts[i + 1:] for r in p if r.get("step")]
        cut = min(later) if later else None
        rows += [r for r in part if cut is None or (r.get("step") and int(float(r["step"])) < cut)]
    columns = list(dict.fromkeys(key for part in parts for row in part for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
