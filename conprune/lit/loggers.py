"""Loggers: W&B that is offline unless WANDB_MODE=online, so runs never need a network by default."""

from __future__ import annotations

import os

from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger


class WandbLogger(_LightningWandbLogger):
    """Lightning's WandbLogger with `offline` decided by the environment when left unset.

    Offline runs are written under `save_dir/wandb/` and can be uploaded later with `wandb sync`.
    """

    def __init__(self, name: str | None = None, save_dir: str = ".", project: str = "conprune",
                 offline: bool | None = None, log_model: bool = False, **kwargs) -> None:
        if offline is None:
            offline = os.environ.get("WANDB_MODE", "offline") != "online"
        os.makedirs(save_dir, exist_ok=True)
        super().__init__(name=name, save_dir=save_dir, project=project, offline=offline,
                         log_model=log_model, **kwargs)
