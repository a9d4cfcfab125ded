"""Prune-stage step time ÷ teacher step time, on the same batch in the same process.

Both steps are full optimizer steps (forward, backward, AdamW): the teacher's CTC step and the
student's step with sampled gates, the frozen teacher's forward, layer + posterior distillation
and the Lagrangian. Timed alternately after warm-up, median of repeats, so machine noise hits
both alike; only the ratio is reported.

    python -m conprune.eval.step_ratio --teacher-ckpt runs/teacher/checkpoints/best.ckpt
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from conprune.lit.ctc_module import ctc_loss
from conprune.lit.student import PrunedStudentModule


def _timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def step_ratio(teacher_ckpt: str, batch_size: int = 8, frames: int = 500, repeats: int = 5,
               target_metric: str = "params", seed: int = 0, device: str = "cpu") -> dict:
    dev = torch.device(device)
    torch.manual_seed(seed)
    student = PrunedStudentModule(teacher_ckpt=teacher_ckpt, target_metric=target_metric,
                                  vocab_size=None)
    student.sparsity_target = 0.3
    teacher = student.teacher
    dense = type(teacher)(teacher.config)
    dense.load_state_dict(teacher.state_dict())
    student.to(dev), teacher.to(dev), dense.to(dev)
    feats = torch.randn(batch_size, frames, teacher.config.input_dim, device=dev)
    lengths = torch.full((batch_size,), frames, device=dev)
    targets = torch.randint(1, teacher.config.vocab_size, (batch_size, frames // 20), device=dev)
    target_lengths = torch.full((batch_size,), frames // 20, device=dev)
    batch = {"features": feats, "lengths": lengths, "targets": targets, "target_lengths": target_lengths}
    dense_opt = torch.optim.AdamW(dense.parameters(), lr=1e-4)
    student_opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    dense.train(), student.train()

    def teacher_step() -> None:
        out = dense(feats, lengths)
        loss, _ = ctc_loss(out.log_probs, out.lengths, targets, target_lengths)
        dense_opt.zero_grad()
        loss.backward()
        dense_opt.step()

    def prune_step() -> None:
        loss = student.compute_losses(batch)["total"]
        student_opt.zero_grad()
        loss.backward()
        student_opt.step()

    for _ in range(2):
        teacher_step(), prune_step()
    teacher_times, prune_times = [], []
    for _ in range(repeats):
        teacher_times.append(_timed(teacher_step, dev))
        prune_times.append(_timed(prune_step, dev))
    t, p = statistics.median(teacher_times), statistics.median(prune_times)
    return {"prune_step_ratio": p / t, "teacher_step_s": t, "prune_step_s": p,
            "batch": f"{batch_size} x {frames} frames", "threads": torch.get_num_threads(), "device": str(dev)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-ckpt", default="runs/teacher/checkpoints/best.ckpt")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(step_ratio(args.teacher_ckpt, args.batch_size, args.frames, args.repeats), indent=2))


if __name__ == "__main__":
    main()
