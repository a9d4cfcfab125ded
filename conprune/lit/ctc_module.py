"""Shared machinery of every CTC LightningModule: loss normalisation, decoding, WER, export data.

CTC loss across DDP ranks: each rank sums the per-utterance losses of its batch and divides by the
*global* number of target tokens divided by the world size. DDP averages gradients over ranks, so
the effective gradient is that of (sum of all ranks' losses) / (all target tokens) — the same as
one big batch on one device, whatever the dynamic batch sizes on each rank. A plain per-rank mean
would weight a rank holding 3 long utterances like one holding 30 short ones. The distillation
losses do the same with valid frames (`conprune/lit/distillation.py`).

Evaluation never calls a collective per batch: ranks hold different numbers of validation batches
(no padding, so nothing is counted twice), and a per-batch all-reduce would pair up mismatched
calls or hang. Edit distances, word counts, CTC loss sums and token counts are accumulated in
torchmetrics states, summed over ranks once at epoch end; corpus WER from N ranks equals 1 rank's.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.text import WordErrorRate

from conprune.io_atomic import atomic_write_text
from conprune.lit.callbacks.guards import default_callbacks
from conprune.lit.callbacks.rng import RngState
from conprune.models.ctc import greedy_decode


def global_mean_denominator(count: torch.Tensor) -> torch.Tensor:
    """count summed over ranks / world size (== count on one device); see the module docstring."""
    count = count.detach().float()
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        count = count.clone()
        dist.all_reduce(count)
        count = count / dist.get_world_size()
    return count.clamp_min(1.0)


def ctc_loss_sum(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                 target_lengths: torch.Tensor) -> torch.Tensor:
    """Summed CTC loss of the batch (no normalisation, no collective)."""
    return F.ctc_loss(log_probs.float().transpose(0, 1), targets, lengths, target_lengths, blank=0,
                      reduction="sum", zero_infinity=True)


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC loss per target token, normalised over all ranks; also returns #utterances too short.

    An utterance whose encoder output is shorter than its label cannot be aligned: its loss is
    zeroed (zero_infinity) and it is counted, so a data problem shows up in the logs.
    Training only: the denominator is an all-reduce, which every rank must reach (see module doc).
    """
    too_short = (lengths < target_lengths).sum()
    total = ctc_loss_sum(log_probs, lengths, targets, target_lengths)
    return total / global_mean_denominator(target_lengths.sum()), too_short


class CtcModule(L.LightningModule):
    """Validation/test for any CTC model: greedy decoding and corpus WER per split.

    Subclasses provide `self.model` and `training_step`; `forward_eval(batch)` returns the
    `ModelOutput` used for decoding (the student overrides it to apply deterministic gates).
    """

    def __init__(self) -> None:
        super().__init__()
        self.val_wer = torch.nn.ModuleDict()
        self.test_wer = torch.nn.ModuleDict()
        self.val_loss = torch.nn.ModuleDict()
        self.test_loss = torch.nn.ModuleDict()
        self._predictions: dict[str, list[dict]] = {}

    def save_plain_hyperparameters(self, hparams: dict) -> None:
        """Save `hparams` (plain values, so checkpoints load with weights_only=True) with the module's
        class as `_class_path`: `conprune fit|validate|test --ckpt_path` re-reads a checkpoint's
        hyperparameters into the config of `model`, a class_path/init_args entry that needs it."""
        cls = type(self)
        self.save_hyperparameters({"_class_path": f"{cls.__module__}.{cls.__qualname__}", **hparams})

    def configure_callbacks(self) -> list[L.Callback]:
        """Every stage checkpoints its RNG states, so a resumed run draws the same noise, and gets the
        NaN/inf step guard and the output-dir check unless the trainer has its own (`lit/guards.py`)."""
        return [RngState(), *default_callbacks(self.trainer)]

    def configure_model(self) -> None:
        """With the subclass's `compile: true`, torch.compile each encoder block in place.

        Regional compilation: the blocks share one compiled graph per shape class, compile much
        faster than the whole model, and `nn.Module.compile` keeps state_dict keys unchanged, so
        checkpoints load with or without it. `dynamic=True` because every batch has another
        length. Off by default: the first steps pay for compilation, and each new batch shape
        pays again (measured: docs/operations.md), which a long GPU run earns back and a CPU run
        does not.
        """
        if self.hparams.get("compile") and not getattr(self, "_blocks_compiled", False):
            for block in self.model.layers:
                block.compile(dynamic=True)
            self._blocks_compiled = True

    # -- helpers -------------------------------------------------------------------------
    def _splits(self, stage: str) -> list[str]:
        dm = self.trainer.datamodule
        return list(dm.val_splits if stage == "val" else dm.test_splits)

    def _metrics(self, stage: str) -> torch.nn.ModuleDict:
        metrics = self.val_wer if stage == "val" else self.test_wer
        for split in self._splits(stage) + ["all"]:
            if split not in metrics:
                metrics[split] = WordErrorRate().to(self.device)
        return metrics

    def _loss_metrics(self, stage: str) -> torch.nn.ModuleDict:
        """Per split: CTC loss per target token, as a token-weighted mean summed over ranks."""
        metrics = self.val_loss if stage == "val" else self.test_loss
        for split in self._splits(stage):
            if split not in metrics:
                metrics[split] = MeanMetric().to(self.device)
        return metrics

    def forward_eval(self, batch: dict):
        return self.model(batch["features"], batch["lengths"])

    def decode(self, out) -> list[str]:
        tokenizer = self.trainer.datamodule.tokenizer
        return [tokenizer.decode(ids) for ids in greedy_decode(out.log_probs, out.lengths)]

    # -- eval loops ----------------------------------------------------------------------
    def _eval_step(self, stage: str, batch: dict, dataloader_idx: int) -> None:
        split = self._splits(stage)[dataloader_idx]
        out = self.forward_eval(batch)
        tokens = batch["target_lengths"].sum().clamp_min(1)
        loss = ctc_loss_sum(out.log_probs, out.lengths, batch["targets"], batch["target_lengths"]) / tokens
        self._loss_metrics(stage)[split].update(loss.detach(), weight=tokens.float())
        hyps = self.decode(out)
        metrics = self._metrics(stage)
        metrics[split].update(hyps, batch["texts"])
        metrics["all"].update(hyps, batch["texts"])
        if stage == "test":
            self._predictions.setdefault(split, []).extend(
                {"id": i, "speaker": s, "ref": r, "hyp": h}
                for i, s, r, h in zip(batch["ids"], batch["speakers"], batch["texts"], hyps))

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("test", batch, dataloader_idx)

    def _eval_epoch_end(self, stage: str) -> dict[str, float]:
        metrics = self._metrics(stage)
        losses = self._loss_metrics(stage)
        results = {}
        for split in self._splits(stage):  # compute() on every rank: it is the one all-reduce
            self.log(f"{stage}/loss/{split}", losses[split].compute(), add_dataloader_idx=False)
            losses[split].reset()
        for split in self._splits(stage) + ["all"]:
            wer = metrics[split].compute()
            metrics[split].reset()
            results[split] = float(wer)
            name = f"{stage}/wer" if split == "all" else f"{stage}/wer/{split}"
            self.log(name, wer, add_dataloader_idx=False)
        return results

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")
        self._write_predictions()

    def _write_predictions(self) -> None:
        """Write per-utterance hypotheses (all ranks gathered) as JSONL next to the logs."""
        rows = self._predictions
        self._predictions = {}
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            gathered: list = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, rows)
            rows = {}
            for part in gathered:
                for split, items in part.items():
                    rows.setdefault(split, []).extend(items)
        if not self.trainer.is_global_zero:
            return
        out_dir = Path(self.trainer.log_dir or self.trainer.default_root_dir)
        for split, items in rows.items():
            lines = "".join(json.dumps(r) + "\n" for r in sorted(items, key=lambda r: r["id"]))
            atomic_write_text(out_dir / f"predictions-{split}.jsonl", lines, "predictions")
