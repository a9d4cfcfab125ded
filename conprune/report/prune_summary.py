"""Print what a prune run reached: deterministic sparsity vs target, dev WER vs the teacher's.

    conprune prune-summary --run runs/prune --teacher runs/teacher
"""

from __future__ import annotations

from pathlib import Path

from conprune.models.config import ConformerConfig
from conprune.models.package import read_package
from conprune.pruning.cost_model import CostModel
from conprune.report.logs import last_values, metrics_csv
from conprune.stages.checkpoint_io import load_checkpoint
from conprune.stages.settings import TargetConfig, coerce


def prune_target(ckpt: dict) -> TargetConfig:
    """The target a prune checkpoint was trained for (its `target` hyperparameter group)."""
    return coerce(TargetConfig, ckpt["hyper_parameters"].get("target"), "target")


def checkpoint_sparsity(ckpt: dict) -> float:
    """Exact sparsity of the deterministic gates stored (as kept counts) with a prune checkpoint."""
    config = ConformerConfig.from_dict(ckpt["conprune"]["model_config"])
    target = prune_target(ckpt)
    cost = CostModel.from_target(target.metric, target.ref_seconds, target.latency_table)
    return cost.sparsity_of_kept(config, ckpt["conprune"]["kept_counts"])


def _best_score(ckpt: dict) -> float:
    """The monitored score of the ModelCheckpoint callback saved in a Lightning checkpoint."""
    return float(next(v for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k)["best_model_score"])


def summary(run: Path, teacher: Path) -> dict:
    ckpt = load_checkpoint(run / "checkpoints" / "best.ckpt")
    target = prune_target(ckpt)
    metrics = last_values(metrics_csv(run),
                          ["sparsity/deterministic", "val/wer", "val/wer_at_target", "lagrangian/lambda1"])
    return {"target_metric": target.metric, "target": target.sparsity,
            "best_checkpoint_deterministic_sparsity": checkpoint_sparsity(ckpt),
            "last_step_deterministic_sparsity": metrics.get("sparsity/deterministic"),
            "best_checkpoint_step": ckpt["global_step"],
            "student_dev_wer_at_target": _best_score(ckpt),
            "teacher_dev_wer": teacher_dev_wer(teacher), "kept": ckpt["conprune"].get("kept_counts")}


def teacher_dev_wer(teacher: Path) -> float | None:
    """The teacher's pooled dev WER: the best validation score of a teacher run directory, or the
    `dev_wer` a shipped teacher's model file carries (None when it carries none)."""
    if teacher.is_dir():
        return _best_score(load_checkpoint(teacher / "checkpoints" / "best.ckpt"))
    return read_package(teacher)["meta"].get("dev_wer")
