"""Training guards every stage gets by default (see `CtcModule.configure_callbacks`).

`NonFiniteGuard`: one NaN/inf loss or gradient (a bad batch, an fp16 overflow, a learning-rate
spike) must not poison the weights and optimizer moments of a long run, and a run that only
produces NaNs must not burn hours before anyone notices. So a step whose loss or gradient is
not finite is skipped (its gradients are dropped before the optimizer sees them), counted,
logged as `train/skipped_nonfinite`, and after `max_consecutive` such steps in a row the run
stops with a one-line `ConpruneError` saying what to change.

`OutputDirsCheck`: the trainer's output directories (default_root_dir, checkpoint dirpaths,
logger dirs) are created and probed for writability and free space in `setup`, before the first
training step, so a read-only or full disk fails in seconds instead of at the first checkpoint.

`ValidateLastStep`: the final optimizer step is always validated, so ModelCheckpoint sees (and
saves) the weights the schedule ends on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist

from conprune.errors import ConpruneError
from conprune.io_atomic import ensure_writable_dir

log = logging.getLogger(__name__)


class NonFiniteGuard(L.Callback):
    """Skip optimizer steps with a non-finite loss or gradient; stop after `max_consecutive` in a row.

    The decision is made after DDP has averaged the gradients and is reduced over ranks, so every
    rank skips (or stops) at the same step. Checking costs one fused norm over the gradients and
    one host sync per optimizer step.

    Args:
        max_consecutive: stop the run after this many skipped steps in a row (>= 1).
    """

    def __init__(self, max_consecutive: int = 20) -> None:
        if not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ConpruneError(f"NonFiniteGuard max_consecutive must be an int >= 1, got {max_consecutive!r}")
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0
        self._loss: torch.Tensor | None = None

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        self._loss = loss.detach()

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        checks = [torch.isfinite(n) for n in torch._foreach_norm([p.grad.detach() for p in params])] if params else []
        if self._loss is not None:
            checks.append(torch.isfinite(self._loss).all().to(checks[0].device if checks else self._loss.device))
        finite = torch.stack(checks).all().float() if checks else torch.ones(())
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if bool(finite.item()):
            self.consecutive = 0
        else:
            self._skip(trainer, pl_module, params)
        pl_module.log("train/skipped_nonfinite", float(self.skipped), batch_size=1)
        self._loss = None

    def _skip(self, trainer: L.Trainer, pl_module: L.LightningModule, params: list[torch.nn.Parameter]) -> None:
        bad = next((name for name, p in pl_module.named_parameters()
                    if p.grad is not None and not torch.isfinite(p.grad).all()), None)
        for p in params:
            p.grad = None  # torch optimizers leave parameters without a gradient untouched
        self.skipped += 1
        self.consecutive += 1
        loss = "n/a" if self._loss is None else f"{float(self._loss.float().mean()):.4g}"
        if trainer.is_global_zero:
            log.warning("step %d: non-finite loss (%s) or gradient (first: %s); optimizer step skipped "
                        "(%d in a row, %d in total)", trainer.global_step, loss, bad or "none", self.consecutive,
                        self.skipped)
        if self.consecutive >= self.max_consecutive:
            raise ConpruneError(
                f"{self.consecutive} optimizer steps in a row had a non-finite loss or gradient (up to step "
                f"{trainer.global_step}, {self.skipped} skipped in total): lower model.init_args.optim.lr, set "
                "trainer.gradient_clip_val, train in 32-true or bf16-mixed precision, or check the data; then "
                "resume from the last checkpoint")

    def state_dict(self) -> dict:
        return {"skipped": self.skipped, "consecutive": self.consecutive}

    def load_state_dict(self, state_dict: dict) -> None:
        self.skipped = int(state_dict.get("skipped", 0))
        self.consecutive = int(state_dict.get("consecutive", 0))


def checkpoint_bytes(pl_module: L.LightningModule) -> int:
    """Rough size of one training checkpoint: fp32 weights plus two Adam moments per trainable weight."""
    total = sum(p.numel() for p in pl_module.parameters())
    trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
    return 4 * (total + 2 * trainable)


class OutputDirsCheck(L.Callback):
    """In `setup`, prove every output directory of the trainer is writable and has room.

    Runs on every rank (on one machine or a shared filesystem they all see the same answer, so
    they all stop together). Needs free space for `checkpoints` checkpoints (best + last) plus
    `slack_mb`.
    """

    def __init__(self, checkpoints: int = 2, slack_mb: int = 50) -> None:
        self.checkpoints = checkpoints
        self.slack_mb = slack_mb

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        candidates = [(trainer.default_root_dir, "trainer.default_root_dir")]
        candidates += [(getattr(cb, "dirpath", None), "ModelCheckpoint dirpath") for cb in trainer.checkpoint_callbacks]
        candidates += [(getattr(lg, "save_dir", None), f"{type(lg).__name__} save_dir") for lg in trainer.loggers]
        dirs: dict[Path, str] = {}
        for path, what in candidates:
            if path and "://" not in str(path):  # remote storage (s3://, gs://) is not probed
                dirs.setdefault(Path(path), what)
        need = self.checkpoints * checkpoint_bytes(pl_module) + self.slack_mb * 2**20
        for path, what in dirs.items():
            ensure_writable_dir(path, what, min_free_bytes=need)


class ValidateLastStep(L.Callback):
    """Validate after the step that reaches `trainer.max_steps`, whatever `val_check_interval` is.

    Lightning ends a `max_steps` run without validating unless max_steps is a multiple of the
    interval, and ModelCheckpoint saves only after a validation, so the low-learning-rate tail of
    the schedule (usually the best weights) was neither evaluated nor saved: a 1800-step teacher
    validated every 500 steps ended with best.ckpt and last.ckpt both at step 1500. Asking the loop
    to stop at the last step makes it validate there first (one validation when both coincide).
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
            trainer.should_stop = True


def default_callbacks(trainer: L.Trainer) -> list[L.Callback]:
    """A `NonFiniteGuard`, an `OutputDirsCheck` and a `ValidateLastStep` for each one the trainer
    does not already have.

    Returned by `CtcModule.configure_callbacks`, so every stage is guarded even when a YAML overlay
    replaces `trainer.callbacks`; an instance listed there (e.g. with another `max_consecutive`) wins.
    """
    have = [type(cb) for cb in trainer.callbacks]
    return [cls() for cls in (NonFiniteGuard, OutputDirsCheck, ValidateLastStep) if not any(issubclass(h, cls) for h in have)]
