"""Test-only callbacks and workers that run inside `conprune fit` subprocesses (PYTHONPATH=tests),
the environment those subprocesses get and the `--trainer.callbacks` items that name them.

`StateProbe` dumps what must be identical on every DDP rank (all parameters, log α, λ, the ramp
value) plus the validation metrics, one file per rank, and checks equality with an all_gather.
`KillPoint` parks the process right after the checkpoint of a given step so a test can SIGKILL
it at a known place. `grad_worker` computes a DDP-averaged gradient for the loss-normalisation test.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L
import torch


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().float().reshape(-1).cpu() for t in tensors]) if tensors else torch.zeros(0)


class StateProbe(L.Callback):
    """Writes `<out_dir>/rank<r>.pt` at the end of fit (and of validate)."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def _dump(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        params = _flat(list(pl_module.parameters()))
        gathered = trainer.strategy.all_gather(params)
        if gathered.dim() == 1:
            gathered = gathered.unsqueeze(0)
        state = {"rank": trainer.global_rank, "world": trainer.world_size, "params": params,
                 "all_ranks_equal": bool(all(torch.equal(gathered[0], g) for g in gathered)),
                 "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
                 "global_step": trainer.global_step}
        if hasattr(pl_module, "gates"):
            state["log_alpha"] = _flat(pl_module.gates.log_alpha_parameters())
            state["lambda"] = _flat(pl_module.lambda_parameters())
            state["sparsity_target"] = float(pl_module.sparsity_target)
        ramps = [c for c in trainer.callbacks if type(c).__name__ == "SparsityRamp"]
        if ramps:
            state["ramp"] = ramps[0].current
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.out_dir / f"rank{trainer.global_rank}.pt")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._dump(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.training:
            self._dump(trainer, pl_module)


class KillPoint(L.Callback):
    """Before the batch after `step`, touch `marker` and sleep: the step's checkpoint is written."""

    def __init__(self, step: int, marker: str, seconds: float = 300.0) -> None:
        self.step, self.marker, self.seconds = step, Path(marker), seconds

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            self.marker.write_text(str(os.getpid()))
            time.sleep(self.seconds)


def grad_worker(rank: int, world: int, batch_file: str, port: int, out_dir: str) -> None:
    """One rank: loss on its share of the batch, backward, gradients averaged like DDP does."""
    import torch.distributed as dist

    from conprune.lit.ctc_module import ctc_loss
    from conprune.lit.distillation import distillation_losses

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        data = torch.load(batch_file, weights_only=False)
        student, teacher, distiller = data["student"], data["teacher"], data["distiller"]
        batch = data["shards"][rank]
        total = shard_loss(student, teacher, distiller, batch, ctc_loss, distillation_losses)
        total.backward()
        grads = []
        for p in [*student.parameters(), *distiller.parameters()]:
            g = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            dist.all_reduce(g)
            grads.append(g / world)
        torch.save(grads, Path(out_dir) / f"grads{rank}.pt")
    finally:
        dist.destroy_process_group()


def shard_loss(student, teacher, distiller, batch: dict, ctc_loss, distillation_losses) -> torch.Tensor:
    """CTC + layer + posterior distillation loss on one rank's batch (the stages' objective)."""
    out = student(batch["features"], batch["lengths"], return_hidden=True)
    with torch.no_grad():
        teacher_out = teacher(batch["features"], batch["lengths"], return_hidden=True)
    task, _ = distillation_losses(out, teacher_out, distiller, batch, 1.0, 1.0, 2.0, 0.0)
    ctc, _ = ctc_loss(out.log_probs, out.lengths, batch["targets"], batch["target_lengths"])
    return task + ctc


def subprocess_env() -> dict[str, str]:
    """Import the probes, one thread per rank (2 ranks share 2 cores), no network for W&B."""
    path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


def ramp(steps: int) -> str:
    """A SparsityRamp item (ramp_fraction cleared: list items merge with the YAML's by position)."""
    return ("{class_path: conprune.lit.callbacks.SparsityRamp, "
            f"init_args: {{ramp_steps: {steps}, ramp_fraction: null}}}}")


def probe(out: Path) -> str:
    """A `StateProbe` item writing under `out`."""
    return f"{{class_path: lit_probes.StateProbe, init_args: {{out_dir: {out}}}}}"
