"""Loggers: W&B that is offline unless WANDB_MODE=online, so runs never need a network by default."""

from __future__ import annotations

import logging
import os
from typing import Any

from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger

from conprune.wandb_mode import wandb_enabled

log = logging.getLogger(__name__)


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger with `offline` decided by the environment when left unset.

    Offline runs are written under `save_dir/wandb/` and can be uploaded later with `wandb sync`.
    With WANDB_MODE=disabled, or on a machine without the `wandb` package (a bare GPU box),
    `drop_disabled_wandb` takes it out of the config and the CSV log (always on) carries every metric.
    """

    def __init__(self, name: str | None = None, save_dir: str = ".", project: str = "conprune",
                 offline: bool | None = None, log_model: bool = False, **kwargs) -> None:
        if offline is None:
            offline = os.environ.get("WANDB_MODE", "offline") != "online"
        os.makedirs(save_dir, exist_ok=True)
        super().__init__(name=name, save_dir=save_dir, project=project, offline=offline,
                         log_model=log_model, **kwargs)


def is_wandb_entry(logger: Any) -> bool:
    """Whether one `trainer.logger` config entry (class_path + init_args) is a W&B logger."""
    return "Wandb" in str(getattr(logger, "class_path", ""))


def drop_disabled_wandb(loggers: Any) -> Any:
    """The config's logger list without W&B entries when W&B is off (see `wandb_enabled`)."""
    if wandb_enabled() or not isinstance(loggers, list):
        return loggers
    kept = [lg for lg in loggers if not is_wandb_entry(lg)]
    if len(kept) < len(loggers):
        log.warning("W&B logging is off (WANDB_MODE=disabled or wandb not installed); the CSV log has every metric")
    return kept or False
