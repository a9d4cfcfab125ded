"""Log the report to Weights & Biases: the table, the PNGs, and interactive charts of the same data.

Offline unless WANDB_MODE says otherwise (like the training loggers), so `conprune report` never
needs a network or an account; an offline run is uploaded later with `wandb sync <dir>`.
"""

from __future__ import annotations

import os
from pathlib import Path

from conprune.wandb_mode import wandb_enabled

COLUMNS = ["method", "target", "params_M", "macs_G", "latency_ratio", "dev_wer_pct", "test_wer_pct", "source"]


def table_data(rows: list[dict]) -> list[list]:
    """The report rows as W&B table rows (percent WER, M params, G MACs; None stays a null cell)."""
    return [[r["method"], r["target"], r["params"] / 1e6, r["macs"] / 1e9, r["latency_ratio"],
             100 * r["dev_wer"], 100 * r["test_wer"], r.get("source", "")] for r in rows]


def log_report(rows: list[dict], images: dict[str, Path], curves: dict[str, dict[str, list[tuple[int, float]]]],
               wandb_dir: str | Path, mode: str | None = None, project: str = "conprune") -> Path | None:
    """One W&B run of job type `report`; returns its local run directory, or None when W&B is off
    (WANDB_MODE=disabled) or not installed, like the training loggers: the files are the report."""
    mode = mode or os.environ.get("WANDB_MODE", "offline")
    if mode == "disabled" or not wandb_enabled():
        return None
    import wandb

    Path(wandb_dir).mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=project, name="report", job_type="report", dir=str(wandb_dir), mode=mode,
                     reinit="create_new")
    try:
        table = wandb.Table(columns=COLUMNS, data=table_data(rows))
        payload: dict = {"report/table": table,
                         "report/wer_vs_params": wandb.plot.scatter(table, "params_M", "test_wer_pct",
                                                                    title="test WER vs parameters"),
                         "report/wer_vs_macs": wandb.plot.scatter(table, "macs_G", "test_wer_pct",
                                                                  title="test WER vs MACs")}
        payload.update({f"report/{name}": wandb.Image(str(path)) for name, path in images.items()})
        for metric in ("sparsity/expected", "sparsity/deterministic", "lagrangian/lambda1", "lagrangian/lambda2"):
            data = [[run_name, step, value] for run_name, series in curves.items()
                    for step, value in series.get(metric, [])]
            if data:
                curve = wandb.Table(columns=["run", "step", metric], data=data)
                payload[f"curves/{metric}"] = wandb.plot.line(curve, "step", metric, stroke="run",
                                                              title=f"{metric} over training")
        run.log(payload)
        return Path(run.dir).parent
    finally:
        run.finish()
