"""Print what a prune run reached: deterministic sparsity vs target, dev WER vs the teacher's.

    python -m conprune.eval.prune_summary --run runs/prune --teacher runs/teacher
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from conprune.eval.logs import last_values, metrics_csv


def summary(run: Path, teacher: Path) -> dict:
    ckpt = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    metrics = last_values(metrics_csv(run),
                          ["sparsity/deterministic", "val/wer", "val/wer_at_target", "lagrangian/lambda1"])
    teacher_ckpt = torch.load(teacher / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    teacher_wer = next(v for k, v in teacher_ckpt["callbacks"].items() if "ModelCheckpoint" in k)["best_model_score"]
    best = next(v for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k)
    return {"target_metric": hp["target_metric"], "target": hp["target"],
            "final_deterministic_sparsity": metrics.get("sparsity/deterministic"),
            "best_checkpoint_step": ckpt["global_step"],
            "student_dev_wer_at_target": float(best["best_model_score"]),
            "teacher_dev_wer": float(teacher_wer), "kept": ckpt["conprune"].get("kept_counts")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/prune"))
    parser.add_argument("--teacher", type=Path, default=Path("runs/teacher"))
    args = parser.parse_args()
    info = summary(args.run, args.teacher)
    kept = info.pop("kept")
    print(json.dumps(info, indent=2))
    (args.run / "summary.json").write_text(json.dumps({**info, "kept": kept}, indent=2))


if __name__ == "__main__":
    main()
