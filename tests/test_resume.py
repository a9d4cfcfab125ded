"""Resume after `kill -9`: a prune run killed mid-ramp and mid-epoch, resumed with `--ckpt_path last`,
ends with exactly the uninterrupted run's gates, λ, weights and optimizer state.

What has to survive the kill: weights, log α and λ (state_dict), the optimizer's moments, the
ramp (`SparsityRamp` state + global step), the sampler's position inside the epoch (datamodule
state: batches the trainer processed, not what a prefetching worker pulled) and the RNG states
(`RngState`: gate noise). Augmentation is off so the data is deterministic too (see
conprune/lit/callbacks/rng.py for why augmentation noise cannot be replayed exactly).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lit_probes import probe, ramp, subprocess_env

from conprune.cli import run_lightning

STEPS, KILL_AT = 10, 4


def fit_args(stage_args: Callable[..., list[str]], out: Path, *extra: str) -> list[str]:
    """A deterministic tiny prune fit: 1 data worker (it prefetches), validation at step 5."""
    checkpoint = ("{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: "
                  f"{{dirpath: {out}/ckpt, filename: 'step{{step}}', monitor: null, save_top_k: -1, "
                  "every_n_train_steps: 1, save_last: true, auto_insert_metric_name: false}}")
    return stage_args("prune", out, "--data.batching.max_frames", "250",
                      "--data.batching.eval_max_frames", "400", "--data.batching.num_workers", "1",
                      "--data.augment.freq_masks", "0", "--data.augment.time_masks", "0",
                      "--data.augment.freq_warp", "0.0", "--trainer.max_steps", str(STEPS),
                      "--trainer.val_check_interval", "5", "--trainer.deterministic", "true",
                      "--trainer.callbacks",
                      "[" + ", ".join([ramp(8), checkpoint, probe(out / "probe"), *extra]) + "]")


def final_state(out: Path) -> tuple[dict, dict]:
    probe_state = torch.load(out / "probe" / "rank0.pt", weights_only=False)
    ckpt = torch.load(out / "ckpt" / "last.ckpt", weights_only=False)
    return probe_state, ckpt


def test_kill9_mid_ramp_then_resume_matches_uninterrupted(tmp_path, stage_args):
    run_lightning(fit_args(stage_args, tmp_path / "straight"))

    out, marker = tmp_path / "killed", tmp_path / "parked"
    kill_point = f"{{class_path: lit_probes.KillPoint, init_args: {{step: {KILL_AT}, marker: {marker}}}}}"
    proc = subprocess.Popen([sys.executable, "-m", "conprune", *fit_args(stage_args, out, kill_point)],
                            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read()[-4000:]
            assert time.monotonic() < deadline, "the run never reached the kill point"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    killed = torch.load(out / "ckpt" / "last.ckpt", weights_only=False)
    assert killed["global_step"] == KILL_AT
    ramp_state = killed["callbacks"]["SparsityRamp"]
    assert 0 < ramp_state["current"] < 0.5  # mid-ramp
    sampler = killed["LibriSpeechDataModule"]["sampler"]
    assert sampler["epoch"] == 0 and sampler["consumed"] == KILL_AT  # mid-epoch, not the worker's prefetch
    assert "RngState" in killed["callbacks"]
    assert not (out / "probe").exists()

    run_lightning(fit_args(stage_args, out) + ["--ckpt_path", "last"])
    straight, straight_ckpt = final_state(tmp_path / "straight")
    resumed, resumed_ckpt = final_state(out)
    assert resumed["global_step"] == straight["global_step"] == STEPS
    assert torch.equal(resumed["log_alpha"], straight["log_alpha"])
    assert torch.equal(resumed["lambda"], straight["lambda"])
    assert torch.equal(resumed["params"], straight["params"])
    assert resumed["ramp"] == straight["ramp"] == pytest.approx(0.5)
    moments = [(a["exp_avg"], b["exp_avg"]) for a, b in zip(straight_ckpt["optimizer_states"][0]["state"].values(),
                                                            resumed_ckpt["optimizer_states"][0]["state"].values())]
    assert moments and all(torch.equal(a, b) for a, b in moments)
    assert resumed["metrics"]["val/wer"] == straight["metrics"]["val/wer"]


def test_datamodule_position_is_what_the_trainer_processed():
    """Saved during fit (after a step or a validation): the trainer's count, not the sampler's,
    which includes batches a worker prefetched but nobody trained on."""
    from types import SimpleNamespace

    from conprune.data.sampling import DynamicBucketBatchSampler
    from conprune.lit.datamodule import LibriSpeechDataModule

    dm = LibriSpeechDataModule(root="unused")
    dm.train_sampler = DynamicBucketBatchSampler([100] * 40, 200, num_replicas=1, rank=0)
    it = iter(dm.train_sampler)
    for _ in range(7):  # the loader ran 7 batches ahead
        next(it)
    progress = SimpleNamespace(current=SimpleNamespace(processed=4))
    dm.trainer = SimpleNamespace(state=SimpleNamespace(fn="fit"), current_epoch=0,
                                 fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))
    state = dm.state_dict()["sampler"]
    assert state["consumed"] == 4 and state["epoch"] == 0
    resumed = DynamicBucketBatchSampler([100] * 40, 200, num_replicas=1, rank=0)
    resumed.load_state_dict(state)
    assert list(resumed) == list(DynamicBucketBatchSampler([100] * 40, 200, num_replicas=1, rank=0))[4:]


def test_every_stage_module_records_its_class(teacher_ckpt, compact_student):
    """`--ckpt_path` re-reads a checkpoint's hyperparameters into the `model` entry (class_path +
    init_args), which needs the class: a module that does not record it cannot be resumed or tested."""
    from conprune.lit.finetune import FinetuneModule
    from conprune.lit.student import PrunedStudentModule
    from conprune.lit.teacher import TeacherModule

    modules = [TeacherModule(preset="tiny", vocab_size=41),
               PrunedStudentModule(teacher_ckpt=str(teacher_ckpt)),
               FinetuneModule(student_model=str(compact_student), teacher_ckpt=str(teacher_ckpt))]
    for module in modules:
        assert module.hparams["_class_path"] == f"{type(module).__module__}.{type(module).__name__}"
