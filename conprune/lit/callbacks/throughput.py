"""Training throughput on the dashboard: steps and audio seconds per wall second, peak GPU memory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import torch


class Throughput(L.Callback):
    """Logs `train/steps_per_s`, `train/audio_s_per_s` and `train/peak_mem_gib` (this GPU).

    Rates are over the last `log_every_n_steps` optimizer steps (wall clock, so data loading
    stalls count). With `summary_path`, rank 0 writes the steady-state rates after
    `warmup_steps` (compilation, cuDNN autotuning and caches excluded) as JSON at the end of fit.
    Audio seconds are the 10 ms feature frames of rank 0's batches times the world size (ranks
    get equal numbers of batches of about equal frame budgets).
    """

    def __init__(self, warmup_steps: int = 20, summary_path: str | None = None) -> None:
        self.warmup_steps, self.summary_path = warmup_steps, summary_path
        self._mark = self._start = None
        self._frames = self._steady_frames = 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        frames = float(batch["lengths"].sum()) * trainer.world_size
        self._frames += frames
        step, now = trainer.global_step, time.perf_counter()
        if step == self.warmup_steps and self._start is None:
            self._start, self._steady_frames = (now, step), 0.0
        elif self._start is not None:
            self._steady_frames += frames
        if self._mark is None:
            self._mark, self._frames = (now, step), 0.0
            return
        if step % max(1, trainer.log_every_n_steps) or step == self._mark[1]:
            return
        seconds, steps = now - self._mark[0], step - self._mark[1]
        rates = {"train/steps_per_s": steps / seconds, "train/audio_s_per_s": self._frames * 0.01 / seconds}
        if torch.cuda.is_available():
            rates["train/peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
        self._mark, self._frames = (now, step), 0.0
        for logger in trainer.loggers:
            logger.log_metrics(rates, step=step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.summary_path or self._start is None or not trainer.is_global_zero:
            return
        seconds, steps = time.perf_counter() - self._start[0], trainer.global_step - self._start[1]
        summary = {"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds,
                   "audio_s_per_s": self._steady_frames * 0.01 / seconds, "world_size": trainer.world_size,
                   "precision": str(trainer.precision), "device": str(pl_module.device)}
        if torch.cuda.is_available():
            summary["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
            summary["gpu"] = torch.cuda.get_device_name()
        Path(self.summary_path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.summary_path).write_text(json.dumps(summary, indent=1))
