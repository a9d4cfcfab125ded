"""W&B is dropped from a stage's loggers where it is off, so a bare machine still trains (CSV log kept)."""

from jsonargparse import Namespace

from conprune import wandb_mode
from conprune.lit.loggers import WandbLogger, drop_disabled_wandb


def _loggers() -> list[Namespace]:
    return [Namespace(class_path="lightning.pytorch.loggers.CSVLogger", init_args=Namespace(save_dir="r")),
            Namespace(class_path="conprune.lit.loggers.WandbLogger", init_args=Namespace(save_dir="r"))]


def test_disabled_wandb_is_dropped(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    kept = drop_disabled_wandb(_loggers())
    assert [lg.class_path for lg in kept] == ["lightning.pytorch.loggers.CSVLogger"]
    assert drop_disabled_wandb(_loggers()[1:]) is False
    assert drop_disabled_wandb(False) is False


def test_missing_wandb_package_is_dropped(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(wandb_mode.importlib.util, "find_spec", lambda name: None)
    assert len(drop_disabled_wandb(_loggers())) == 1


def test_offline_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert len(drop_disabled_wandb(_loggers())) == 2
    logger = WandbLogger(name="x", save_dir=str(tmp_path))
    assert logger._offline
