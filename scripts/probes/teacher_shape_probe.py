"""Step times of candidate teacher shapes on this machine, side by side in one process.

For each candidate (a `model_overrides` dict on the demo preset) it times a teacher training step
(CTC, forward + backward + AdamW) and a prune-stage step with that model as the frozen teacher
(sampled gates, teacher forward, distillation, Lagrangian), on the same random batch, alternating
candidates so machine noise hits all alike. Rows are relative to the first candidate's teacher
step: the prune stage must stay at or below today's cost (`conprune step-ratio` measures it).
Its rows were not kept; the step-time ratios they gave planned the equal-wall-time subsampling
A/B, whose rows carry them (`step_time_ratio` in bench/teacher_subsampling_ab_cpu.jsonl).

    python scripts/probes/teacher_shape_probe.py --vocab 65 --out OUT.jsonl
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from conprune.lit.step_ratio import example_batch, prune_step, teacher_step, timed_medians
from conprune.lit.student import PrunedStudentModule
from conprune.models.config import build_config
from conprune.models.conformer import ConformerCTC
from conprune.pruning.cost import count_macs, count_params
from conprune.stages.checkpoint_io import save_ctc_checkpoint

TODAY = {"dropout": 0.0, "attn_dropout": 0.0, "num_layers": 6, "d_model": 176, "ffn_dim": 704,
         "conv_channels": 176}
CANDIDATES = {
    "4x 6x176 (today)": TODAY,
    "8x 6x176": {**TODAY, "subsampling_factor": 8},
    "6x 6x176": {**TODAY, "subsampling_factor": 6},
    "8x 8x176": {**TODAY, "subsampling_factor": 8, "num_layers": 8},
    "8x 8x208": {**TODAY, "subsampling_factor": 8, "num_layers": 8, "d_model": 208, "ffn_dim": 832,
                 "conv_channels": 208},
    "6x 8x176": {**TODAY, "subsampling_factor": 6, "num_layers": 8},
    "4x 8x176": {**TODAY, "num_layers": 8},
}


def probe(vocab: int, batch: int, frames: int, repeats: int, names: list[str]) -> list[dict]:
    torch.manual_seed(0)
    steps, configs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names):
            config = configs[name] = build_config("demo", vocab, CANDIDATES[name])
            teacher = ConformerCTC(config)
            path = save_ctc_checkpoint(Path(tmp) / f"c{i}.ckpt", teacher)
            data = example_batch(config, batch, frames)
            steps[f"{name}/teacher"] = teacher_step(teacher, data)
            steps[f"{name}/prune"] = prune_step(PrunedStudentModule(teacher_ckpt=str(path)), data)
        median = timed_medians(steps, repeats, torch.device("cpu"))
    base = median[f"{names[0]}/teacher"]
    rows = []
    for name in names:
        t, p = median[f"{name}/teacher"], median[f"{name}/prune"]
        rows.append({"candidate": name, "overrides": CANDIDATES[name], "params": count_params(configs[name]),
                     "macs_per_10s": count_macs(configs[name], 1001), "teacher_step_s": round(t, 4),
                     "prune_step_s": round(p, 4), "teacher_step_vs_today": round(t / base, 3),
                     "prune_step_vs_today_teacher_step": round(p / base, 3),
                     "batch": f"{batch} x {frames} frames", "threads": torch.get_num_threads()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=65)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = probe(args.vocab, args.batch, args.frames, args.repeats, args.candidates.split(","))
    command = "python scripts/probes/teacher_shape_probe.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k not in ("out", "candidates") and v is not None)
    for row in rows:
        row["command"] = command
        print(json.dumps(row))
        if args.out:
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
