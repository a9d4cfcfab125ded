"""One knob for where a stage writes: `--run_dir DIR`.

A stage's YAML names its output directory several times (trainer.default_root_dir, each logger's
save_dir, the checkpoint callback's dirpath). Sweeps and the demo run the same stage into many
directories; repeating every path on the command line is error-prone, and lists (loggers,
callbacks) cannot be overridden element-wise. `relocate_run` rewrites every path under the
config's `trainer.default_root_dir` to the same path under `run_dir`, and names the W&B run after
it, so `conprune fit --config experiments/prune.yaml --run_dir runs/sweep/prune-params30` writes
everything there.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from conprune.errors import ConpruneError
from conprune.lit.loggers import is_wandb_entry


def _moved(value: str, old: str, new: str) -> str:
    if value == old:
        return new
    if value.startswith(old.rstrip("/") + "/"):
        return new.rstrip("/") + value[len(old.rstrip("/")):]
    return value


def _walk(node: Any, old: str, new: str) -> Any:
    if isinstance(node, str):
        return _moved(node, old, new)
    if isinstance(node, list):
        return [_walk(item, old, new) for item in node]
    if hasattr(node, "__dict__") and not callable(node):
        for key, value in vars(node).items():
            setattr(node, key, _walk(value, old, new))
        return node
    if isinstance(node, dict):
        return {key: _walk(value, old, new) for key, value in node.items()}
    return node


def _rename_wandb(loggers: Any, name: str) -> None:
    for logger in loggers if isinstance(loggers, list) else []:
        if is_wandb_entry(logger) and getattr(logger, "init_args", None) is not None:
            logger.init_args.name = name


def relocate_run(config: Any, run_dir: str) -> None:
    """Move every output path of one subcommand's config (a jsonargparse Namespace) to `run_dir`."""
    trainer = config.trainer
    old = trainer.default_root_dir
    if not old:
        raise ConpruneError("--run_dir needs trainer.default_root_dir in the config (the directory to move)")
    trainer.default_root_dir = run_dir
    trainer.logger = _walk(trainer.logger, str(old), run_dir)
    trainer.callbacks = _walk(trainer.callbacks, str(old), run_dir)
    _rename_wandb(trainer.logger, "-".join(PurePath(run_dir).parts[-2:]))
