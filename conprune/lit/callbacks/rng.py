"""Random-number state in checkpoints, so a resumed run draws the same noise as an uninterrupted one.

Lightning restores weights, optimizer, schedulers, loop counters and callback/datamodule state,
but not the RNGs. The prune stage samples Hard-Concrete gate noise (and dropout) from the global
torch RNG, so after a kill and `--ckpt_path last` the gates would take a different random path
from the uninterrupted run even with the same seed. `RngState` stores every rank's RNG states
(gathered: ranks draw different amounts, e.g. dropout over differently sized batches) and puts
them back right before the first training batch after the resume — after the DataLoader iterator
is built, which itself draws from the global RNG in both runs at the start of an epoch.

Data augmentation inside the dataset (SpecAugment, speed perturbation) also draws from the
global RNG when the batch is loaded, which happens before that point; with augmentation on a
resumed run is statistically equivalent, with it off it is bit-identical on the same hardware.
"""

from __future__ import annotations

import logging
import random

import lightning as L
import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def collect_rng_states() -> dict:
    """This process's torch (CPU and CUDA), numpy and Python RNG states, as tensors and ints only.

    Plain types keep checkpoints loadable with `torch.load(weights_only=True)`.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_states(state: dict) -> None:
    """Inverse of `collect_rng_states`."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RngState(L.Callback):
    """Saves all ranks' RNG states with each checkpoint; restores this rank's on resume.

    Added to every stage by `CtcModule.configure_callbacks`. `state_dict` gathers over ranks,
    which is safe because Lightning builds the checkpoint dict on every rank (only rank 0 writes).
    A resume on a different number of ranks keeps the fresh seed and logs a warning.
    """

    def __init__(self) -> None:
        self._pending: list[dict] | None = None

    def state_dict(self) -> dict:
        state = collect_rng_states()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            ranks: list = [None] * dist.get_world_size()
            dist.all_gather_object(ranks, state)
            return {"ranks": ranks}
        return {"ranks": [state]}

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict.get("ranks")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if self._pending is None:
            return
        ranks, self._pending = self._pending, None
        if len(ranks) != trainer.world_size:
            log.warning("checkpoint holds RNG states of %d rank(s), this run has %d: random draws restart "
                        "from the seed", len(ranks), trainer.world_size)
            return
        set_rng_states(ranks[trainer.global_rank])
