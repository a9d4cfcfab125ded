"""Numerical guards: non-finite steps skipped, counted, logged, and a stop after K in a row; CTC too short."""

from __future__ import annotations

import csv
import math

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from conprune.errors import ConpruneError
from conprune.lit.callbacks.guards import NonFiniteGuard, OutputDirsCheck, ValidateLastStep, default_callbacks
from conprune.lit.ctc_module import CtcModule, ctc_loss


class Toy(L.LightningModule):
    """A linear model whose loss is NaN at `nan_loss` steps and whose gradient is NaN at `nan_grad` steps."""

    def __init__(self, nan_loss=(), nan_grad=()) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.nan_loss, self.nan_grad = set(nan_loss), set(nan_grad)
        self.weights: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        self.weights.append(self.layer.weight.detach().clone())
        loss = self.layer(batch).pow(2).mean()
        return loss * math.nan if self.global_step in self.nan_loss else loss

    def on_after_backward(self) -> None:
        if self.global_step in self.nan_grad:
            self.layer.weight.grad[0, 0] = math.inf

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.1)


def _fit(module: L.LightningModule, tmp_path, steps: int, guard: NonFiniteGuard) -> L.Trainer:
    trainer = L.Trainer(max_steps=steps, callbacks=[guard], logger=L.pytorch.loggers.CSVLogger(tmp_path),
                        log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, gradient_clip_val=1.0)
    trainer.fit(module, DataLoader(torch.randn(64, 4), batch_size=4))
    return trainer


def test_nonfinite_loss_and_gradient_steps_are_skipped_counted_and_logged(tmp_path):
    module = Toy(nan_loss={1}, nan_grad={3})
    guard = NonFiniteGuard(max_consecutive=3)
    _fit(module, tmp_path, 6, guard)
    assert guard.skipped == 2 and guard.consecutive == 0
    assert all(torch.isfinite(w).all() for w in module.weights)
    with open(next(tmp_path.rglob("metrics.csv"))) as fh:
        logged = [float(r["train/skipped_nonfinite"]) for r in csv.DictReader(fh) if r.get("train/skipped_nonfinite")]
    assert logged[-1] == 2 and logged[0] == 0


def test_skipped_step_leaves_the_weights_untouched(tmp_path):
    module = Toy(nan_grad={2})
    _fit(module, tmp_path, 5, NonFiniteGuard(max_consecutive=5))
    w = module.weights
    assert torch.equal(w[2], w[3])  # the step taken at global_step 2 was dropped
    assert not torch.equal(w[1], w[2]) and not torch.equal(w[3], w[4])


def test_k_in_a_row_stops_with_a_clear_message(tmp_path):
    module = Toy(nan_loss=set(range(100)))
    with pytest.raises(ConpruneError, match=r"3 optimizer steps in a row had a non-finite loss or gradient .*"
                                            r"lower model.init_args.optim.lr.*resume from the last checkpoint"):
        _fit(module, tmp_path, 20, NonFiniteGuard(max_consecutive=3))


def test_guard_settings_are_checked_and_resumable():
    with pytest.raises(ConpruneError, match="max_consecutive must be an int >= 1"):
        NonFiniteGuard(0)
    guard = NonFiniteGuard()
    guard.load_state_dict({"skipped": 4, "consecutive": 2})
    assert guard.state_dict() == {"skipped": 4, "consecutive": 2}


def test_every_stage_gets_the_guards_unless_configured():
    from types import SimpleNamespace

    assert {type(c) for c in default_callbacks(SimpleNamespace(callbacks=[]))} == {
        NonFiniteGuard, OutputDirsCheck, ValidateLastStep}
    assert [type(c) for c in default_callbacks(SimpleNamespace(callbacks=[NonFiniteGuard(7)]))] == [
        OutputDirsCheck, ValidateLastStep]
    assert CtcModule.configure_callbacks is not L.LightningModule.configure_callbacks


class ValCounter(Toy):
    """Records the global step of every validation."""

    def __init__(self) -> None:
        super().__init__()
        self.validated_at: list[int] = []

    def validation_step(self, batch, batch_idx):
        return None

    def on_validation_epoch_end(self) -> None:
        self.validated_at.append(self.global_step)


@pytest.mark.parametrize(("steps", "guard", "expected"), [(7, True, [3, 6, 7]), (6, True, [3, 6]), (7, False, [3, 6])])
def test_last_step_is_validated_and_checkpointed(tmp_path, steps, guard, expected):
    """Without the callback Lightning skips the final validation (and checkpoint) of a 7-step run."""
    module = ValCounter()
    extra = [ValidateLastStep()] if guard else []
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)  # saves at every validation
    trainer = L.Trainer(max_steps=steps, val_check_interval=3, check_val_every_n_epoch=None,
                        callbacks=[ckpt, *extra],
                        logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path, num_sanity_val_steps=0)
    data = DataLoader(torch.randn(64, 4), batch_size=4)
    trainer.fit(module, data, DataLoader(torch.randn(8, 4), batch_size=4))
    assert module.validated_at == expected
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["global_step"] == expected[-1]


def test_ctc_input_shorter_than_label_is_zeroed_and_counted():
    torch.manual_seed(0)
    log_probs = torch.randn(2, 5, 10).log_softmax(-1)
    lengths = torch.tensor([5, 3])
    targets = torch.randint(1, 10, (2, 4))
    loss, too_short = ctc_loss(log_probs, lengths, targets, torch.tensor([4, 4]))
    assert int(too_short) == 1 and torch.isfinite(loss)


def test_distillation_counts_ctc_too_short():
    from conprune.lit.distillation import distillation_losses
    from conprune.models.conformer import ModelOutput
    from conprune.pruning.distill import LayerDistiller

    torch.manual_seed(0)
    hidden = [torch.randn(2, 5, 8) for _ in range(2)]
    out = ModelOutput(log_probs=torch.randn(2, 5, 10).log_softmax(-1), lengths=torch.tensor([5, 2]), hidden=hidden)
    batch = {"targets": torch.randint(1, 10, (2, 3)), "target_lengths": torch.tensor([3, 3])}
    task, losses = distillation_losses(out, out, LayerDistiller({1: 1}, 8, 8), batch, 1.0, 1.0, 1.0, 0.5)
    assert losses["train/ctc_too_short"] == 1 and torch.isfinite(task)
