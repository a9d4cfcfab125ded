"""The configs' W&B logger degrades to a no-op where W&B is off, so a bare machine still trains."""

from lightning.pytorch.loggers.logger import DummyLogger

from conprune.lit import loggers
from conprune.lit.loggers import WandbLogger


def test_disabled_wandb_is_a_no_op_logger(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    logger = WandbLogger(name="x", save_dir=str(tmp_path))
    assert isinstance(logger, DummyLogger)
    logger.log_metrics({"train/loss": 1.0}, step=0)  # accepted and dropped


def test_missing_wandb_package_is_a_no_op_logger(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    assert isinstance(WandbLogger(name="x", save_dir=str(tmp_path)), DummyLogger)


def test_offline_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    logger = WandbLogger(name="x", save_dir=str(tmp_path))
    assert isinstance(logger, WandbLogger)
    assert logger._offline
