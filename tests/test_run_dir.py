"""`--run_dir` moves every output of a stage; `ramp_fraction` scales the sparsity ramp with max_steps."""

from pathlib import Path

import pytest
from jsonargparse import Namespace

from conprune.cli import run_lightning
from conprune.errors import ConpruneError
from conprune.lit.callbacks.ramp import SparsityRamp
from conprune.lit.run_dir import relocate_run


def _config() -> Namespace:
    logger = [Namespace(class_path="lightning.pytorch.loggers.CSVLogger",
                        init_args=Namespace(save_dir="runs/prune", name="csv")),
              Namespace(class_path="conprune.lit.loggers.WandbLogger",
                        init_args=Namespace(save_dir="runs/prune", name="prune"))]
    callbacks = [Namespace(class_path="lightning.pytorch.callbacks.ModelCheckpoint",
                           init_args=Namespace(dirpath="runs/prune/checkpoints", monitor="val/wer")),
                 Namespace(class_path="x.Other", init_args=Namespace(path="runs/prune-macs/keep"))]
    return Namespace(trainer=Namespace(default_root_dir="runs/prune", logger=logger, callbacks=callbacks),
                     model=Namespace(init_args=Namespace(teacher_ckpt="runs/teacher/best.ckpt")))


def test_relocate_moves_only_paths_under_the_run_dir():
    config = _config()
    relocate_run(config, "runs/sweep/prune-params30")
    assert config.trainer.default_root_dir == "runs/sweep/prune-params30"
    assert [lg.init_args.save_dir for lg in config.trainer.logger] == ["runs/sweep/prune-params30"] * 2
    assert config.trainer.callbacks[0].init_args.dirpath == "runs/sweep/prune-params30/checkpoints"
    assert config.trainer.callbacks[0].init_args.monitor == "val/wer"
    # a sibling whose name merely starts with the same letters is not inside the run dir
    assert config.trainer.callbacks[1].init_args.path == "runs/prune-macs/keep"
    assert config.model.init_args.teacher_ckpt == "runs/teacher/best.ckpt"
    assert config.trainer.logger[0].init_args.name == "csv"
    assert config.trainer.logger[1].init_args.name == "sweep-prune-params30"


def test_relocate_needs_a_root_dir():
    config = _config()
    config.trainer.default_root_dir = None
    with pytest.raises(ConpruneError, match="default_root_dir"):
        relocate_run(config, "elsewhere")


def test_ramp_fraction_follows_max_steps():
    class FakeTrainer:
        max_steps = 400

    ramp = SparsityRamp(ramp_fraction=0.5)
    ramp.setup(FakeTrainer(), None, "fit")
    assert ramp.ramp_steps == 200
    with pytest.raises(ConpruneError, match="ramp_fraction"):
        SparsityRamp(ramp_fraction=1.5)


def test_fit_writes_everything_under_run_dir(tmp_path, stage_args, corpus_copy, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = tmp_path / "elsewhere" / "teacher-x"
    run_lightning(stage_args("teacher", None, "--run_dir", str(run), "--model.init_args.model_overrides",
                             "{}", "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
                             "--trainer.limit_val_batches", "1", root=corpus_copy, logger=None))
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "csv").rglob("metrics.csv"))
    assert not Path("runs/teacher-x").exists()
