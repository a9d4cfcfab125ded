"""Options of the gate phase: the ramp can start from the gates' initial expected sparsity, and the
gates' learning rate can follow the student's schedule; both leave the defaults unchanged."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.lit.callbacks.ramp import SparsityRamp, ramp_value
from conprune.lit.student import PrunedStudentModule


def test_ramp_value_from_a_start() -> None:
    assert ramp_value(0, 0.5, 100) == 0.0 and ramp_value(50, 0.5, 100) == pytest.approx(0.25)
    assert ramp_value(0, 0.5, 100, start=0.1) == pytest.approx(0.1)
    assert ramp_value(50, 0.5, 100, start=0.1) == pytest.approx(0.3)
    assert ramp_value(5, 0.5, 100, delay_steps=10, start=0.1) == pytest.approx(0.1)
    with pytest.raises(ConpruneError, match="start must be zero or initial"):
        SparsityRamp(start="middle")


def test_ramp_starts_at_the_initial_expected_sparsity(teacher_ckpt) -> None:
    student = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41)
    ramp = SparsityRamp(ramp_steps=100, start="initial")
    trainer = SimpleNamespace(global_step=0)
    ramp.on_fit_start(trainer, student)
    initial = float(student.expected_sparsity())
    assert 0 < initial < 0.5 and ramp.start_value == pytest.approx(initial)
    assert student.sparsity_target == pytest.approx(initial)
    assert ramp.value(100, student) == pytest.approx(0.5)
    restored = SparsityRamp(ramp_steps=100, start="initial")
    restored.load_state_dict(ramp.state_dict())
    assert restored.start_value == ramp.start_value


@pytest.mark.parametrize("scheduled", [False, True])
def test_gate_learning_rate_follows_the_schedule_when_asked(teacher_ckpt, scheduled: bool) -> None:
    student = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                                  lagrangian={"schedule_gates": scheduled, "log_alpha_lr": 0.05},
                                  optim={"warmup_steps": 10})
    student._trainer = SimpleNamespace(estimated_stepping_batches=100)
    config = student.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    log_alpha = {id(p) for p in student.gates.log_alpha_parameters()}
    group = next(g for g in optimizer.param_groups if id(g["params"][0]) in log_alpha)
    assert group["lr"] == pytest.approx(0.05 / 10 if scheduled else 0.05)  # step 0 of a 10-step warm-up
    scheduler.step()
    assert group["lr"] == pytest.approx(0.05 * 2 / 10 if scheduled else 0.05)
    assert torch.is_tensor(student.expected_sparsity())
