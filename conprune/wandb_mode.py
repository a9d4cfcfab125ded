"""Whether W&B is on: one rule for the training loggers (`conprune.lit.loggers`) and the report's
tables (`conprune.report.wandb_tables`), which must agree and may not import each other."""

from __future__ import annotations

import importlib.util
import os


def wandb_enabled() -> bool:
    """False when W&B is switched off (WANDB_MODE=disabled) or its package is missing."""
    return os.environ.get("WANDB_MODE") != "disabled" and importlib.util.find_spec("wandb") is not None
