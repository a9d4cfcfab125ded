"""GradualMagnitudeModule: the gradual magnitude pruning (GMP) baselines' pruning stage.

Zhu & Gupta (2017) prune gradually while training: the sparsity follows a ramp and, every few
steps, the smallest weights are masked. Here the units are conprune's structures (heads, FFN
units, conv channels, whole modules with their last unit) and everything else is conprune's prune
stage, so that the comparison isolates *how* the cut is chosen: the student starts as a copy of
the teacher and distils from it with the same objective and optimiser (`DistillationModule`,
`distill` and `optim` as in experiments/prune.yaml), the same `SparsityRamp` callback sets the
target t(step) (same shape, delay and length), and the run has the same number of steps. Every
`update_every` steps, and at the step the ramp reaches the target, `GradualMasks` sets the kept
counts for t in the target's metric by the one-shot baselines' allocation rule (`uniform` or
`global`) and masks the alive units with the smallest current L1 norm; masked units never return.

The masks are 0/1 gates and buffers of this module, so a checkpoint carries them (`conprune
compact` cuts the masked model exactly, `stages/export.py`) and a resumed run continues with the
same masks. Checkpoints are selected on `val/wer_at_target`: the dev WER once the masks hold the
final allocation, 1 + the gap to the target before, as in the prune stage.
"""

from __future__ import annotations

import copy

import torch

from conprune.errors import ConpruneError
from conprune.lit.callbacks.ramp import SparsityRamp
from conprune.lit.distillation import DistillationModule
from conprune.lit.optim import adamw_with_schedule, decay_split
from conprune.pruning.baselines import structure_scores
from conprune.pruning.cost_model import ANALYTIC_METRICS, CostModel
from conprune.pruning.gmp import GradualMasks, check_allocation, update_due
from conprune.pruning.lagrangian import check_target
from conprune.settings_base import plain
from conprune.stages.settings import DistillConfig, OptimConfig, TargetConfig, coerce

TARGET, DISTILL, OPTIM = TargetConfig(), DistillConfig(), OptimConfig()


class GradualMagnitudeModule(DistillationModule):
    """Gradual magnitude pruning of structures with the prune stage's distillation; logs
    `sparsity/masked`, `loss/layer`, `loss/kd` (and `loss/ctc`), `val/wer`, `val/wer_at_target`.

    Args:
        teacher_ckpt: checkpoint (or model file) of the teacher.
        vocab_size: linked from `data.num_pieces + 1`; must match the teacher's (None: take the teacher's).
        target: `sparsity`, `metric` (params or MACs), `ref_seconds` and `tolerance` as in the prune
            stage; per-structure targets and a gentler gate-phase target do not apply.
        allocation: `uniform` (one keep ratio everywhere, as `magnitude_uniform`) or `global` (one
            normalised L1 ranking model-wide, as `magnitude_global`).
        update_every: optimizer steps between two re-scorings of the masks while the ramp rises.
        distill: the distillation objective (`DistillConfig`), the prune stage's.
        optim: AdamW and its schedule (`OptimConfig`), the prune stage's.
        compile: torch.compile the student's encoder blocks (see `CtcModule.configure_model`).
    """

    def __init__(self, teacher_ckpt: str, vocab_size: int | None = None, target: TargetConfig = TARGET,
                 allocation: str = "uniform", update_every: int = 10, distill: DistillConfig = DISTILL,
                 optim: OptimConfig = OPTIM, compile: bool = False) -> None:
        super().__init__()
        self.target = coerce(TargetConfig, target, "target")
        self.distill_config = coerce(DistillConfig, distill, "distill")
        self.optim = coerce(OptimConfig, optim, "optim")
        self.save_plain_hyperparameters({"teacher_ckpt": teacher_ckpt, "vocab_size": vocab_size,
                                         "target": plain(self.target), "allocation": allocation,
                                         "update_every": update_every, "distill": plain(self.distill_config),
                                         "optim": plain(self.optim), "compile": compile})
        check_target(self.target.sparsity, "model.init_args.target.sparsity")
        check_allocation(allocation)
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise ConpruneError(f"model.init_args.update_every must be an int >= 1, got {update_every!r}")
        for field in ("structures", "train_sparsity"):
            if getattr(self.target, field) is not None:
                raise ConpruneError(f"model.init_args.target.{field} does not apply to gradual magnitude pruning; "
                                    "leave it out")
        self.update_every = update_every
        self.cost = CostModel.from_target(self.target.metric, self.target.ref_seconds,
                                          where="model.init_args.target.metric", allowed=ANALYTIC_METRICS)
        teacher = self.load_teacher(teacher_ckpt, vocab_size)
        self.config = teacher.config
        self.model = copy.deepcopy(teacher).train().requires_grad_(True)
        self.masks = GradualMasks(self.config, self.target.sparsity, self.cost, allocation,
                                  structure_scores(teacher), self.target.tolerance)
        self.build_distiller(self.distill_config, self.config.d_model, self.config.num_layers)
        self.sparsity_target = 0.0

    @property
    def train_target(self) -> float:
        """The final value of the `SparsityRamp` (which reads it): the target itself."""
        return self.target.sparsity

    def expected_sparsity(self) -> torch.Tensor:
        """The masks' exact sparsity (what `SparsityRamp(start: initial)` starts from)."""
        return torch.tensor(self.masks.sparsity())

    def on_fit_start(self) -> None:
        """Refuse a run without the ramp: it is what moves the masks."""
        super().on_fit_start()
        ramps = [c for c in self.trainer.callbacks if isinstance(c, SparsityRamp)]
        if not ramps:
            raise ConpruneError("gradual magnitude pruning needs the SparsityRamp callback in trainer.callbacks "
                                "(see experiments/gmp.yaml): it sets the schedule")
        if ramps[0].target is not None and ramps[0].target != self.target.sparsity:
            raise ConpruneError(f"SparsityRamp target {ramps[0].target} differs from model.init_args.target.sparsity "
                                f"{self.target.sparsity}; leave the ramp's target out")

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if update_due(self.global_step, self.update_every, self.sparsity_target, self.target.sparsity,
                      self.masks.at_final):
            self.masks.update(self.model, self.sparsity_target)
        out = self.model(batch["features"], batch["lengths"], gates=self.masks.gates(), return_hidden=True)
        task, losses = self.distill(out, batch, self.distill_config)
        size = len(batch["ids"])
        self.log_dict(losses, batch_size=size)
        if batch_idx % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("sparsity/masked", self.masks.sparsity(), batch_size=size)
        self.log("train/loss", task, prog_bar=True, batch_size=size)
        return task

    def forward_eval(self, batch: dict):
        return self.model(batch["features"], batch["lengths"], gates=self.masks.gates())

    def on_validation_epoch_end(self) -> None:
        """`val/wer_at_target`: the WER once the masks hold the final allocation within the
        tolerance, else 1 + the gap, so checkpoint selection only considers models at the target."""
        results = self._eval_epoch_end("val")
        sparsity = self.masks.sparsity()
        gap = abs(sparsity - self.target.sparsity)
        final = self.masks.at_final and gap <= self.target.tolerance
        self.log("sparsity/masked", sparsity)
        self.log("val/wer_at_target", results["all"] if final else 1.0 + gap)

    def configure_optimizers(self):
        decay, no_decay = decay_split(self.model, self.distiller)
        groups = [{"params": decay, "weight_decay": self.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return adamw_with_schedule(self.trainer, self.optim, groups)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the teacher's tokenizer/CMVN and the dense config next to the student and its masks."""
        checkpoint["conprune"] = {**self.teacher_extra, "model_config": self.config.to_dict(),
                                  "stage": "gmp", "kept_counts": self.masks.kept_counts()}
