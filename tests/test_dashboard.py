"""Dashboard: grouped metric names, gate map PNG (offline) and W&B image, CLI config in the W&B run."""

from __future__ import annotations

import csv
import math

import torch
from lit_probes import ramp

from conprune.cli import run_lightning
from conprune.lit.callbacks.dashboard import LABELS, gate_map

GROUPS = ("train", "val", "loss", "sparsity", "lagrangian")


def test_gate_map_fractions():
    masks = {"layers.0.mhsa.heads": torch.tensor([1.0, 0.0, 0.5, 0.0]), "layers.0.mhsa.module": torch.tensor(1.0),
             "layers.0.ffn1.units": torch.ones(8), "layers.0.ffn1.module": torch.tensor(0.0),
             "layers.1.conv.module": torch.tensor(0.7)}
    rows = gate_map(masks, 2)
    assert len(rows) == 2 and all(len(r) == len(LABELS) for r in rows)
    assert rows[0][0] == 0.5 and rows[0][1] == 0.0  # half the heads; FFN1 removed as a whole
    assert rows[1][2] == 1.0  # conv with a module gate only, kept
    assert math.isnan(rows[0][2]) and math.isnan(rows[1][0])  # not gated / absent


def test_prune_dashboard_offline(tmp_path, stage_args, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    loggers = (f"[{{class_path: lightning.pytorch.loggers.CSVLogger, init_args: {{save_dir: {out}, name: csv}}}}, "
               f"{{class_path: conprune.lit.loggers.WandbLogger, init_args: {{save_dir: {out}, name: prune}}}}]")
    cli = run_lightning(stage_args(
        "prune", out, "--data.batching.max_frames", "800", "--trainer.max_steps", "4",
        "--trainer.val_check_interval", "4", "--trainer.log_every_n_steps", "1",
        "--trainer.enable_checkpointing", "false", "--trainer.callbacks",
        (f"[{ramp(4)}, {{class_path: conprune.lit.callbacks.GateMapDashboard, "
         "init_args: {every_n_steps: 2}}, {class_path: conprune.lit.callbacks.LearningRates}]"), logger=loggers))
    pngs = sorted(p.name for p in (out / "gate_maps").glob("*.png"))
    assert pngs == ["step000002.png", "step000004.png"]
    assert (out / "gate_maps" / pngs[-1]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(next(out.rglob("metrics.csv"))) as fh:
        columns = set(next(csv.DictReader(fh)))
    assert {"train/lr/pg0", "train/loss", "val/wer", "sparsity/target", "lagrangian/lambda1", "loss/kd"} <= columns
    ungrouped = {c for c in columns - {"epoch", "step"} if c.split("/")[0] not in GROUPS}
    assert not ungrouped, ungrouped

    wandb_logger = next(lg for lg in cli.trainer.loggers if type(lg).__name__ == "WandbLogger")
    config = wandb_logger.experiment.config.as_dict()
    assert config["cli"]["trainer"]["max_steps"] == 4
    assert config["cli"]["model"]["class_path"].endswith("PrunedStudentModule")
    wandb_logger.experiment.finish()
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].rglob("sparsity/gate_map*.png")), "gate map image not in the offline W&B run"
