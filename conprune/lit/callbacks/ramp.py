"""Callbacks of the pruning stage.

`SparsityRamp` owns the sparsity target t(step): 0 during an optional delay (the student first
adapts to distillation), then a linear or cosine ramp to the final target over `ramp_steps`,
then flat. Ramping avoids a shock to the model and gives λ time to follow (CoFi, DPHuBERT use a
linear warm-up of the target). Its state is saved in checkpoints and checked on resume, so a
resumed run continues the same ramp instead of silently starting another.
"""

from __future__ import annotations

import math

import lightning as L
import torch

from conprune.errors import ConpruneError
from conprune.pruning.lagrangian import check_target

SHAPES = ("linear", "cosine")


def ramp_value(step: int, final: float, ramp_steps: int, delay_steps: int = 0, shape: str = "linear",
               start: float = 0.0) -> float:
    """The target at optimizer step `step`: `start` during the delay, then towards `final`."""
    if step < delay_steps:
        return start
    progress = 1.0 if ramp_steps <= 0 else min(1.0, (step - delay_steps) / ramp_steps)
    if shape == "cosine":
        progress = 0.5 * (1.0 - math.cos(math.pi * progress))
    return start + (final - start) * progress


class SparsityRamp(L.Callback):
    """Sets `pl_module.sparsity_target` before every training step and logs it.

    Args:
        target: final sparsity (fraction of the teacher's params or MACs to remove, in (0, 1));
            when None, the module's `train_target` (`target.train_sparsity`, else `target.sparsity`).
        ramp_steps: steps from 0 to the final target (after the delay).
        ramp_fraction: when set, `ramp_steps` becomes this fraction of `trainer.max_steps`, so a
            shorter or longer schedule (the demo profile, a sweep) keeps the ramp/hold proportions.
        delay_steps: steps with target 0 before the ramp starts.
        shape: `linear` or `cosine`.
        start: `zero` (default) or `initial`: begin at the expected sparsity of the gates at the
            first step (CoFi's start_sparsity), so the Lagrangian does not first push every gate
            back up towards 0 before the ramp overtakes the initial sparsity.
    """

    def __init__(self, target: float | None = None, ramp_steps: int = 1000, delay_steps: int = 0,
                 shape: str = "linear", ramp_fraction: float | None = None, start: str = "zero") -> None:
        if shape not in SHAPES:
            raise ConpruneError(f"SparsityRamp shape must be one of {SHAPES}, got {shape!r}")
        if ramp_steps < 0 or delay_steps < 0:
            raise ConpruneError("SparsityRamp ramp_steps and delay_steps must be >= 0")
        self.target = None if target is None else check_target(target, "SparsityRamp target")
        self.ramp_steps = ramp_steps
        self.delay_steps = delay_steps
        self.shape = shape
        if ramp_fraction is not None and not 0.0 <= ramp_fraction <= 1.0:
            raise ConpruneError(f"SparsityRamp ramp_fraction must be in [0, 1], got {ramp_fraction}")
        self.ramp_fraction = ramp_fraction
        if start not in ("zero", "initial"):
            raise ConpruneError(f"SparsityRamp start must be zero or initial, got {start!r}")
        self.start, self.start_value = start, 0.0
        self.current = 0.0

    def final_target(self, pl_module: L.LightningModule) -> float:
        return self.target if self.target is not None else float(pl_module.train_target)

    def value(self, step: int, pl_module: L.LightningModule) -> float:
        return ramp_value(step, self.final_target(pl_module), self.ramp_steps, self.delay_steps, self.shape,
                          self.start_value)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.ramp_fraction is not None:
            if trainer.max_steps is None or trainer.max_steps < 0:
                raise ConpruneError("SparsityRamp ramp_fraction needs trainer.max_steps; set it or use ramp_steps")
            self.ramp_steps = round(self.ramp_fraction * trainer.max_steps)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.start == "initial" and trainer.global_step == 0:
            with torch.no_grad():
                self.start_value = min(float(pl_module.expected_sparsity()), self.final_target(pl_module))
        self.current = self.value(trainer.global_step, pl_module)
        pl_module.sparsity_target = self.current

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        self.current = self.value(trainer.global_step, pl_module)
        pl_module.sparsity_target = self.current
        pl_module.log("sparsity/target", self.current, batch_size=1)

    def state_dict(self) -> dict:
        return {"target": self.target, "ramp_steps": self.ramp_steps, "delay_steps": self.delay_steps,
                "shape": self.shape, "current": self.current, "start_value": self.start_value}

    def load_state_dict(self, state_dict: dict) -> None:
        saved = {k: state_dict.get(k) for k in ("target", "ramp_steps", "delay_steps", "shape")}
        mine = {"target": self.target, "ramp_steps": self.ramp_steps, "delay_steps": self.delay_steps,
                "shape": self.shape}
        if saved != mine:
            raise ConpruneError(f"SparsityRamp settings {mine} differ from the checkpoint's {saved}; resume "
                                "with the config the run was started with")
        self.current = float(state_dict.get("current", 0.0))
        self.start_value = float(state_dict.get("start_value", 0.0))
