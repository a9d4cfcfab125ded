"""Prune-stage step time ÷ teacher step time, on the same batch in the same process.

Both steps are full optimizer steps (forward, backward, AdamW): the teacher's CTC step and the
student's step with sampled gates, the frozen teacher's forward, layer + posterior distillation
and the Lagrangian. Timed alternately after warm-up, median of repeats, so machine noise hits
both alike; only the ratio is reported.

    conprune step-ratio --teacher-ckpt runs/teacher/checkpoints/best.ckpt
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from conprune.lit.ctc_module import ctc_loss
from conprune.lit.student import PrunedStudentModule
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.stages.settings import TargetConfig


def _timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def example_batch(config: ConformerConfig, batch_size: int = 8, frames: int = 500,
                  device: torch.device | str = "cpu") -> dict:
    """A random training batch: features, full lengths and label sequences of frames/20 tokens."""
    labels = frames // 20
    return {"features": torch.randn(batch_size, frames, config.input_dim, device=device),
            "lengths": torch.full((batch_size,), frames, device=device),
            "targets": torch.randint(1, config.vocab_size, (batch_size, labels), device=device),
            "target_lengths": torch.full((batch_size,), labels, device=device)}


def teacher_step(model: ConformerCTC, batch: dict) -> Callable[[], None]:
    """A closure running one CTC training step (forward, backward, AdamW) of `model` on `batch`."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        out = model(batch["features"], batch["lengths"])
        loss, _ = ctc_loss(out.log_probs, out.lengths, batch["targets"], batch["target_lengths"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def prune_step(student: PrunedStudentModule, batch: dict) -> Callable[[], None]:
    """A closure running one prune-stage step: sampled gates, the frozen teacher's forward,
    distillation and Lagrangian losses, backward and AdamW over the student's parameters."""
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    student.sparsity_target = 0.3
    student.train()

    def step() -> None:
        loss = student.compute_losses(batch)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def timed_medians(steps: dict[str, Callable[[], None]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each step, timed interleaved after two warm-up rounds."""
    for _ in range(2):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(_timed(step, device))
    return {name: statistics.median(values) for name, values in times.items()}


def step_ratio(teacher_ckpt: str, batch_size: int = 8, frames: int = 500, repeats: int = 5,
               target_metric: str = "params", seed: int = 0, device: str = "cpu",
               reference: ConformerConfig | None = None) -> dict:
    """Prune step ÷ teacher step with this teacher; with `reference`, also the prune step ÷ the
    teacher step of a fresh model of that config (e.g. the previous teacher), timed in the same loop."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    student = PrunedStudentModule(teacher_ckpt=teacher_ckpt, target=TargetConfig(metric=target_metric),
                                  vocab_size=None)
    teacher = student.teacher
    dense = type(teacher)(teacher.config)
    dense.load_state_dict(teacher.state_dict())
    student.to(dev), teacher.to(dev), dense.to(dev)
    batch = example_batch(teacher.config, batch_size, frames, dev)
    steps = {"teacher": teacher_step(dense, batch), "prune": prune_step(student, batch)}
    if reference is not None:
        ref_batch = {**batch, "targets": batch["targets"].clamp(max=reference.vocab_size - 1)}
        steps["reference"] = teacher_step(ConformerCTC(reference).to(dev), ref_batch)
    median = timed_medians(steps, repeats, dev)
    t, p = median["teacher"], median["prune"]
    result = {"prune_step_ratio": p / t, "teacher_step_s": t, "prune_step_s": p,
              "batch": f"{batch_size} x {frames} frames", "threads": torch.get_num_threads(), "device": str(dev)}
    if reference is not None:
        result.update(reference_teacher_step_s=median["reference"],
                      prune_step_vs_reference_teacher_step=p / median["reference"])
    return result


def prune_step_ratio(teacher_ckpt: str, device: str = "cpu") -> float:
    """`step_ratio`'s headline number alone, as `conprune bench` reports it."""
    return step_ratio(teacher_ckpt, device=device)["prune_step_ratio"]
