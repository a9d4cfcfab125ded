"""Print what a prune run reached: deterministic sparsity vs target, dev WER vs the teacher's.

    python -m conprune.eval.prune_summary --run runs/prune --teacher runs/teacher
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from conprune.eval.logs import last_values, metrics_csv
from conprune.io_atomic import atomic_write_json
from conprune.lit.checkpoint_io import load_checkpoint
from conprune.models.config import ConformerConfig
from conprune.pruning.cost import count_cost, pruned_config, ref_frames
from conprune.pruning.gates import config_gate_shapes


def checkpoint_sparsity(ckpt: dict) -> float:
    """Exact sparsity of the deterministic gates stored (as kept counts) with a prune checkpoint."""
    config = ConformerConfig.from_dict(ckpt["conprune"]["model_config"])
    shapes = config_gate_shapes(config)
    masks = {key: (torch.arange(shapes[key][0]) < kept).float() if shapes[key] else torch.tensor(float(kept > 0))
             for key, kept in ckpt["conprune"]["kept_counts"].items()}
    hp = ckpt["hyper_parameters"]
    frames = ref_frames(hp.get("ref_seconds", 10.0))
    metric = hp["target_metric"]
    return 1.0 - count_cost(pruned_config(config, masks), metric, frames) / count_cost(config, metric, frames)


def _best_score(ckpt: dict) -> float:
    """The monitored score of the ModelCheckpoint callback saved in a Lightning checkpoint."""
    return float(next(v for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k)["best_model_score"])


def summary(run: Path, teacher: Path) -> dict:
    ckpt = load_checkpoint(run / "checkpoints" / "best.ckpt")
    hp = ckpt["hyper_parameters"]
    metrics = last_values(metrics_csv(run),
                          ["sparsity/deterministic", "val/wer", "val/wer_at_target", "lagrangian/lambda1"])
    return {"target_metric": hp["target_metric"], "target": hp["target"],
            "best_checkpoint_deterministic_sparsity": checkpoint_sparsity(ckpt),
            "last_step_deterministic_sparsity": metrics.get("sparsity/deterministic"),
            "best_checkpoint_step": ckpt["global_step"],
            "student_dev_wer_at_target": _best_score(ckpt),
            "teacher_dev_wer": _best_score(load_checkpoint(teacher / "checkpoints" / "best.ckpt")), "kept": ckpt["conprune"].get("kept_counts")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/prune"))
    parser.add_argument("--teacher", type=Path, default=Path("runs/teacher"))
    args = parser.parse_args()
    info = summary(args.run, args.teacher)
    kept = info.pop("kept")
    print(json.dumps(info, indent=2))
    atomic_write_json(args.run / "summary.json", {**info, "kept": kept}, "prune summary", indent=2)


if __name__ == "__main__":
    main()
