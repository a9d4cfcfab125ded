"""Throughput options: gradient accumulation, bf16-mixed precision, torch.compile of the encoder blocks."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from conprune.cli import run_lightning
from conprune.lit.teacher import TeacherModule

CONFIG = str(Path(__file__).resolve().parents[1] / "experiments" / "teacher.yaml")


@pytest.fixture()
def root(tmp_path, tiny_corpus) -> Path:
    shutil.copytree(tiny_corpus, tmp_path / "corpus")
    return tmp_path / "corpus"


def teacher_fit(root: Path, out: Path, *extra: str):
    return run_lightning(["fit", "--config", CONFIG, "--data.root", str(root), "--data.num_pieces", "40",
                          "--data.max_frames", "400", "--model.init_args.preset", "tiny",
                          "--trainer.val_check_interval", "1000", "--trainer.limit_val_batches", "0",
                          "--trainer.default_root_dir", str(out), "--trainer.logger", "false",
                          "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
                          "--trainer.enable_progress_bar", "false", *extra])


def test_gradient_accumulation(root, tmp_path):
    cli = teacher_fit(root, tmp_path / "run", "--trainer.max_steps", "2", "--trainer.accumulate_grad_batches", "2")
    assert cli.trainer.global_step == 2
    assert cli.trainer.fit_loop.epoch_loop._batches_that_stepped == 2
    assert cli.trainer.fit_loop.total_batch_idx + 1 == 4  # two batches per optimizer step


def test_bf16_mixed_on_cpu_with_throughput_summary(root, tmp_path):
    summary = tmp_path / "throughput.json"
    cli = teacher_fit(root, tmp_path / "run", "--trainer.max_steps", "3", "--trainer.precision", "bf16-mixed",
                      "--trainer.log_every_n_steps", "1", "--trainer.callbacks",
                      "[{class_path: conprune.lit.dashboard.Throughput, "
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
