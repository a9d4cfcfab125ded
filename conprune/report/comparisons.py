"""What a method comparison needs beside the WERs: each row's training budget, its paired
difference to conprune at the same target, and its spread over seeds.

Budgets are read from what the runs wrote (the CSV log's last step, the DONE stamp's wall time),
adding the prune run a finetune started from, so conprune's row counts prune + finetune and a
baseline's row its one training run; equal budgets are then visible per row, not assumed.
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

import yaml

from conprune.report.logs import fit_wall_seconds, trained_steps
from conprune.report.significance import compare_runs
from conprune.stages.methods import CONPRUNE

log = logging.getLogger(__name__)


def run_budget(run: Path) -> tuple[int, float]:
    """(optimizer steps, fit wall seconds) of one run directory; (0, 0) when it trained nothing."""
    return trained_steps(run), fit_wall_seconds(run) or 0.0


def student_run(run: Path) -> Path | None:
    """The run whose model a finetune run started from (its config's `student_model`), if any."""
    configs = sorted(run.glob("csv/**/config.yaml"))
    if not configs:
        return None
    args = (yaml.safe_load(configs[-1].read_text()).get("model") or {}).get("init_args") or {}
    student = args.get("student_model")
    if not student:
        return None
    path = Path(student)
    if not path.is_absolute() and not path.exists():
        # A relative path is relative to where the fit ran, usually the folder that holds runs/.
        path = next((base / path for base in run.parents if (base / path).exists()), path)
    return path.parent


def add_budgets(rows: list[dict]) -> None:
    """`train_steps` and `train_seconds` of each row: its run, plus the prune run it came from."""
    for row in rows:
        if row["target"] == "none":
            continue
        run = Path(row["source"]).parent
        steps, seconds = run_budget(run)
        parent = student_run(run)
        if parent is not None and parent.is_dir():
            more = run_budget(parent)
            steps, seconds = steps + more[0], seconds + more[1]
        row["train_steps"], row["train_seconds"] = steps, seconds


def add_comparisons(rows: list[dict]) -> None:
    """For every row at a target where conprune ran: its pooled test WER minus conprune's, the
    paired-bootstrap 95 % interval of that difference, and P(conprune better)."""
    conprune = {r["target"]: r for r in rows if r["method"] == CONPRUNE and r.get("seed", 0) == 0}
    for row in rows:
        base = conprune.get(row["target"])
        if base is None or row is base or row["target"] == "none":
            continue
        a, b = Path(base["source"]).parent / "predictions", Path(row["source"]).parent / "predictions"
        if not (a.is_dir() and b.is_dir()):
            log.info("report: no predictions for %s %s or conprune; no paired comparison", row["method"], row["target"])
            continue
        result = compare_runs(a, b)
        row.update(delta_vs_conprune=result["delta"], delta_ci95=result["delta_ci95"],
                   p_conprune_better=result["p_a_better"])


def merge_seeds(rows: list[dict]) -> list[dict]:
    """One row per method × target (its seed-0 run), with `seeds`, `test_wer_mean` and
    `test_wer_sd` (sample standard deviation) where more than one seed ran."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["target"]), []).append(row)
    merged = []
    for group in groups.values():
        base = next((r for r in group if r.get("seed", 0) == 0), group[0])
        if len(group) > 1:
            wers = [r["test_wer"] for r in sorted(group, key=lambda r: r.get("seed", 0))]
            base.update(seeds=sorted(r.get("seed", 0) for r in group), test_wer_mean=statistics.mean(wers),
                        test_wer_sd=statistics.stdev(wers))
        merged.append(base)
    return merged
