"""Step times of candidate teacher shapes on this machine, side by side in one process.

For each candidate (a `model_overrides` dict on the demo preset) it times a teacher training step
(CTC, forward + backward + AdamW) and a prune-stage step with that model as the frozen teacher
(sampled gates, teacher forward, distillation, Lagrangian), on the same random batch, alternating
candidates so machine noise hits all alike. Rows are relative to the first candidate's teacher
step: the prune stage must stay at or below today's cost (about 1.4 x today's teacher step).

    python scripts/teacher_shape_probe.py --vocab 65 --out bench/teacher_shape_probe_cpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from conprune.lit.ctc_module import ctc_loss
from conprune.lit.student import PrunedStudentModule
from conprune.lit.teacher import build_config
from conprune.models.conformer import ConformerCTC
from conprune.pruning.cost import count_macs, count_params

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


def _teacher_file(model: ConformerCTC, directory: Path, name: str) -> str:
    path = directory / f"{name}.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "conprune": {"model_config": model.config.to_dict()}}, path)
    return str(path)


def probe(vocab: int, batch: int, frames: int, repeats: int, names: list[str]) -> list[dict]:
    torch.manual_seed(0)
    steps = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(names):
            config = build_config("demo", vocab, CANDIDATES[name])
            teacher = ConformerCTC(config).train()
            student = PrunedStudentModule(teacher_ckpt=_teacher_file(teacher, Path(tmp), f"c{i}"))
            student.sparsity_target = 0.3
            steps[name] = (config, _steps(teacher, student, vocab, batch, frames))
        times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
        for _ in range(2):
            for _, (teacher_step, prune_step) in steps.values():
                teacher_step(), prune_step()
        for _ in range(repeats):
            for name, (_, (teacher_step, prune_step)) in steps.items():
                times[name][0].append(_timed(teacher_step))
                times[name][1].append(_timed(prune_step))
    base = statistics.median(times[names[0]][0])
    rows = []
    for name in names:
        config = steps[name][0]
        t, p = statistics.median(times[name][0]), statistics.median(times[name][1])
        rows.append({"candidate": name, "overrides": CANDIDATES[name], "params": count_params(config),
                     "macs_per_10s": count_macs(config, 1001), "teacher_step_s": round(t, 4),
                     "prune_step_s": round(p, 4), "teacher_step_vs_today": round(t / base, 3),
                     "prune_step_vs_today_teacher_step": round(p / base, 3),
                     "batch": f"{batch} x {frames} frames", "threads": torch.get_num_threads()})
    return rows


def _steps(teacher: ConformerCTC, student: PrunedStudentModule, vocab: int, batch: int, frames: int):
    feats = torch.randn(batch, frames, teacher.config.input_dim)
    lengths = torch.full((batch,), frames)
    labels = max(1, int(teacher.output_lengths(torch.tensor(frames))) // 3)
    targets = torch.randint(1, vocab, (batch, labels))
    target_lengths = torch.full((batch,), labels)
    data = {"features": feats, "lengths": lengths, "targets": targets, "target_lengths": target_lengths}
    teacher_opt = torch.optim.AdamW(teacher.parameters(), lr=1e-4)
    student_opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    student.train()

    def teacher_step() -> None:
        out = teacher(feats, lengths)
        loss, _ = ctc_loss(out.log_probs, out.lengths, targets, target_lengths)
        teacher_opt.zero_grad()
        loss.backward()
        teacher_opt.step()

    def prune_step() -> None:
        loss = student.compute_losses(data)["total"]
        student_opt.zero_grad()
        loss.backward()
        student_opt.step()

    return teacher_step, prune_step


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


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
    command = "python scripts/teacher_shape_probe.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if k not in ("out", "candidates") and v is not None)
    for row in rows:
        row["command"] = command
        print(json.dumps(row))
        if args.out:
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
