"""Print what a prune run reached: deterministic sparsity vs target, dev WER vs the teacher's.

    python -m conprune.eval.prune_summary --run runs/prune --teacher runs/teacher
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from conprune.eval.logs import last_values, metrics_csv
from conprune.models.config import ConformerConfig
from conprune.pruning.cost import count_macs, count_params, pruned_config, ref_frames


def checkpoint_sparsity(ckpt: dict) -> float:
    """Exact sparsity of the deterministic gates stored with a prune checkpoint."""
    config = ConformerConfig.from_dict(ckpt["conprune"]["model_config"])
    masks = {key: (torch.arange(max(1, n_total)) < kept).float() if n_total else torch.tensor(float(kept > 0))
             for key, (kept, n_total) in _counts(ckpt, config).items()}
    hp = ckpt["hyper_parameters"]
    if hp["target_metric"] == "params":
        cost = count_params
    else:
        frames = ref_frames(hp.get("ref_seconds", 10.0))

        def cost(cfg):
            return count_macs(cfg, frames)
    return 1.0 - cost(pruned_config(config, masks)) / cost(config)


def _counts(ckpt: dict, config: ConformerConfig) -> dict[str, tuple[int, int]]:
    from conprune.pruning.gates import config_gate_shapes

    shapes = config_gate_shapes(config)
    return {key: (kept, shapes[key][0] if shapes[key] else 0)
            for key, kept in ckpt["conprune"]["kept_counts"].items()}


def summary(run: Path, teacher: Path) -> dict:
    ckpt = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    hp = ckpt["hyper_parameters"]
    metrics = last_values(metrics_csv(run),
                          ["sparsity/deterministic", "val/wer", "val/wer_at_target", "lagrangian/lambda1"])
    teacher_ckpt = torch.load(teacher / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    teacher_wer = next(v for k, v in teacher_ckpt["callbacks"].items() if "ModelCheckpoint" in k)["best_model_score"]
    best = next(v for k, v in ckpt["callbacks"].items() if "ModelCheckpoint" in k)
    return {"target_metric": hp["target_metric"], "target": hp["target"],
            "best_checkpoint_deterministic_sparsity": checkpoint_sparsity(ckpt),
            "last_step_deterministic_sparsity": metrics.get("sparsity/deterministic"),
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
