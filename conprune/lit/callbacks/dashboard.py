"""Dashboard callbacks: the gate map image, learning rates under `train/`, the CLI config in W&B.

W&B groups panels by the prefix before the first `/`, so every metric of the stages lives under
one of `train/`, `val/`, `loss/`, `sparsity/`, `lagrangian/` (README, "Multi-GPU, resume and the
dashboard"). Lightning's LearningRateMonitor logs `lr-AdamW/pg1`, a section of its own;
`LearningRates` logs the same numbers as `train/lr/pg<i>`.

The gate map is what a pruning run is about and what scalar curves hide: which layers lose
heads, FFN units or conv channels, and when. `GateMapDashboard` renders the deterministic gates
(layers × structures, kept fraction) every N steps to a PNG under the run directory — so it is
there offline and without W&B — and logs the same file as an image to every W&B logger.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)

STRUCTURES = (("mhsa", "heads"), ("ffn1", "units"), ("conv", "channels"), ("ffn2", "units"))
LABELS = ("MHSA heads", "FFN1 units", "conv channels", "FFN2 units")


def gate_map(masks: dict[str, torch.Tensor], num_layers: int) -> list[list[float]]:
    """Kept fraction per layer × structure (rows: layers; columns: `LABELS`) from eval gates.

    A structure counts as kept by (its module gate > 0) × (fraction of its unit gates > 0); a
    group without gates counts as fully kept; a module absent from the model is NaN.
    """
    rows = []
    for layer in range(num_layers):
        row = []
        for module, unit in STRUCTURES:
            units = masks.get(f"layers.{layer}.{module}.{unit}")
            whole = masks.get(f"layers.{layer}.{module}.module")
            if units is None and whole is None:
                row.append(math.nan)
                continue
            kept = float((units > 0).float().mean()) if units is not None else 1.0
            row.append(kept * (float(whole > 0) if whole is not None else 1.0))
        rows.append(row)
    return rows


def render_gate_map(rows: list[list[float]], path: Path, title: str) -> Path:
    """Write the map as a heatmap PNG (atomically: a half-written PNG never appears)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 1.2 + 0.35 * len(rows)))
    image = ax.imshow(rows, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"layer {i}" for i in range(len(rows))], fontsize=8)
    for (i, j), value in ((ij, v) for ij, v in _cells(rows) if not math.isnan(v)):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="kept fraction")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def _cells(rows: list[list[float]]):
    return (((i, j), v) for i, row in enumerate(rows) for j, v in enumerate(row))


class GateMapDashboard(L.Callback):
    """Every `every_n_steps` optimizer steps (and at the end of fit): gate map PNG + W&B image.

    Args:
        every_n_steps: interval in optimizer steps.
        dirname: folder under `trainer.default_root_dir` for `step<NNNNNN>.png` files.
    Only global rank 0 draws (gates are identical on every rank under DDP).
    """

    def __init__(self, every_n_steps: int = 50, dirname: str = "gate_maps") -> None:
        if every_n_steps <= 0:
            raise ValueError(f"GateMapDashboard every_n_steps must be positive, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.dirname = dirname
        self._last_step = -1

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 and step != self._last_step:
            self.draw(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._last_step:
            self.draw(trainer, pl_module)

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Path | None:
        """Render the current deterministic gates; None on non-zero ranks or without gates."""
        self._last_step = step = trainer.global_step
        gates = getattr(pl_module, "gates", None)
        if gates is None or not trainer.is_global_zero:
            return None
        with torch.no_grad():
            masks = gates.deterministic()
        rows = gate_map(masks, pl_module.config.num_layers)
        sparsity = pl_module.deterministic_sparsity() if hasattr(pl_module, "deterministic_sparsity") else None
        title = f"step {step}" + (f", deterministic sparsity {sparsity:.3f}" if sparsity is not None else "")
        path = render_gate_map(rows, Path(trainer.default_root_dir) / self.dirname / f"step{step:06d}.png", title)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="sparsity/gate_map", images=[str(path)], step=step)
        return path


class LearningRates(L.Callback):
    """Logs each optimizer parameter group's LR as `train/lr/pg<i>` every `log_every_n_steps`."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if not trainer.optimizers or trainer.global_step % max(1, trainer.log_every_n_steps):
            return
        rates = {f"train/lr/pg{i}": group["lr"] for i, group in enumerate(trainer.optimizers[0].param_groups)}
        for logger in trainer.loggers:
            logger.log_metrics(rates, step=trainer.global_step)


class SaveConfigToLoggers(SaveConfigCallback):
    """LightningCLI's config.yaml next to the logs, and the whole resolved config in W&B.

    Lightning logs the model's and datamodule's hyperparameters by itself; trainer settings
    (steps, precision, devices, callbacks) only reach the W&B run's config this way, so runs
    can be filtered and compared by them.
    """

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        config = json.loads(self.parser.dump(self.config, skip_none=False, format="json"))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.config.update({"cli": config}, allow_val_change=True)
