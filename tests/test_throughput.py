"""Throughput options: gradient accumulation, bf16-mixed precision, torch.compile of the encoder blocks."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conprune.cli import run_lightning
from conprune.lit.teacher import TeacherModule


@pytest.fixture()
def teacher_fit(tmp_path, stage_args, corpus_copy):
    """`teacher_fit(*extra)`: a tiny teacher fit without validation, checkpoints or logs, on its own
    corpus (the teacher stage prepares whatever its data settings miss)."""
    return lambda *extra: run_lightning(stage_args(
        "teacher", tmp_path / "run", "--data.batching.max_frames", "400",
        "--trainer.val_check_interval", "1000", "--trainer.limit_val_batches", "0",
        "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false", *extra, root=corpus_copy))


def test_gradient_accumulation(teacher_fit):
    cli = teacher_fit("--trainer.max_steps", "2", "--trainer.accumulate_grad_batches", "2")
    assert cli.trainer.global_step == 2
    assert cli.trainer.fit_loop.epoch_loop._batches_that_stepped == 2
    assert cli.trainer.fit_loop.total_batch_idx + 1 == 4  # two batches per optimizer step


def test_bf16_mixed_on_cpu_with_throughput_summary(teacher_fit, tmp_path):
    summary = tmp_path / "throughput.json"
    cli = teacher_fit("--trainer.max_steps", "3", "--trainer.precision", "bf16-mixed",
                      "--trainer.log_every_n_steps", "1", "--trainer.callbacks",
                      "[{class_path: conprune.lit.callbacks.Throughput, "
                      f"init_args: {{warmup_steps: 1, summary_path: {summary}}}}}]")
    assert cli.trainer.global_step == 3
    rates = json.loads(summary.read_text())
    assert rates["steps"] == 2 and rates["steps_per_s"] > 0 and rates["audio_s_per_s"] > 0
    assert "bf16" in rates["precision"]
    assert math.isfinite(float(cli.trainer.callback_metrics["train/loss"]))
    assert next(cli.model.parameters()).dtype == torch.float32  # mixed: weights stay fp32


def test_compile_option_compiles_blocks_in_place():
    plain = TeacherModule(preset="tiny", vocab_size=30)
    module = TeacherModule(preset="tiny", vocab_size=30, compile=True)
    module.configure_model()
    assert all(block._compiled_call_impl is not None for block in module.model.layers)
    assert list(module.state_dict()) == list(plain.state_dict())  # checkpoints load either way
    assert module.hparams.compile and not plain.hparams.compile


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="inductor on CPU compiles the tiny model in ~330 s on 2 cores (+~100 s per new shape)")
def test_compiled_step_matches_eager():
    torch.manual_seed(0)
    eager = TeacherModule(preset="tiny", vocab_size=30, model_overrides={"dropout": 0.0, "attn_dropout": 0.0})
    compiled = TeacherModule(preset="tiny", vocab_size=30, model_overrides={"dropout": 0.0, "attn_dropout": 0.0},
                             compile=True)
    compiled.load_state_dict(eager.state_dict())
    compiled.configure_model()
    feats, lengths = torch.randn(2, 120, 80, device="cuda"), torch.tensor([120, 100], device="cuda")
    outs = [m.cuda().eval().model(feats, lengths).log_probs for m in (eager, compiled)]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-3, atol=1e-3)
