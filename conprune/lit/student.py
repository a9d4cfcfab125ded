"""PrunedStudentModule: learns which structures to remove while distilling from the teacher.

The student starts as a copy of the teacher with Hard-Concrete gates on every structure group.
Each step samples gates, runs teacher (frozen, eval, no grad, not a parameter of the module, so
DDP never sees it) and student, and minimises layer + posterior distillation (+ optional CTC)
plus the Lagrangian penalty that drives the expected sparsity ŝ to the target t(step) owned by
the `SparsityRamp` callback. Sparsity is measured against the teacher's total parameters or
MACs (`target.metric`). Validation decodes with the deterministic gates and logs
`val/wer_at_target`: the WER when the deterministic sparsity is within `target.tolerance` of
the final target, else 1 + the gap, so checkpoint selection only considers models at the target.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

from conprune.errors import ConpruneError
from conprune.lit.distillation import DistillationModule
from conprune.lit.optim import adamw_with_schedule, decay_split
from conprune.models.gate_keys import gate_shapes
from conprune.pruning.cost import pruned_config
from conprune.pruning.cost_model import CostModel
from conprune.pruning.gates import ConformerGates, GateConfig
from conprune.pruning.lagrangian import LagrangianController, check_target
from conprune.pruning.snap import snap_offset
from conprune.pruning.structure_targets import check_structure_targets, removed_fraction
from conprune.settings_base import plain
from conprune.stages.settings import DistillConfig, LagrangianConfig, OptimConfig, TargetConfig, coerce

LAMBDA_OPTIMIZERS = ("sgd", "adam", "fixed")
TARGET, GATES, DISTILL, OPTIM, LAGRANGIAN = (TargetConfig(), GateConfig(), DistillConfig(), OptimConfig(),
                                             LagrangianConfig())


class PrunedStudentModule(DistillationModule):
    """Structured pruning with L0 gates, a Lagrangian target and layerwise distillation.

    Args:
        teacher_ckpt: checkpoint of the teacher stage (`runs/teacher/checkpoints/best.ckpt`).
        vocab_size: linked from `data.num_pieces + 1`; must match the teacher's (None: take the teacher's).
        target: what to remove and how it is measured (`TargetConfig`: sparsity, metric,
            ref_seconds, tolerance, per-structure targets).
        gates: which structure groups are prunable and how their gates start (`GateConfig`).
        distill: the distillation objective (`DistillConfig`), shared with the finetune stage.
        optim: AdamW and the schedule of the student's weights (`OptimConfig`).
        lagrangian: the multipliers' and the gates' optimisation (`LagrangianConfig`).
        compile: torch.compile the student's encoder blocks (see `CtcModule.configure_model`).
    """

    def __init__(self, teacher_ckpt: str, vocab_size: int | None = None,
                 target: TargetConfig = TARGET, gates: GateConfig = GATES, distill: DistillConfig = DISTILL,
                 optim: OptimConfig = OPTIM, lagrangian: LagrangianConfig = LAGRANGIAN,
                 compile: bool = False) -> None:
        super().__init__()
        self.target = coerce(TargetConfig, target, "target")
        self.gate_config = coerce(GateConfig, gates, "gates")
        self.distill_config = coerce(DistillConfig, distill, "distill")
        self.optim = coerce(OptimConfig, optim, "optim")
        self.lagrangian_config = coerce(LagrangianConfig, lagrangian, "lagrangian")
        self.save_plain_hyperparameters({"teacher_ckpt": teacher_ckpt, "vocab_size": vocab_size,
                                         "target": plain(self.target), "gates": plain(self.gate_config),
                                         "distill": plain(self.distill_config), "optim": plain(self.optim),
                                         "lagrangian": plain(self.lagrangian_config), "compile": compile})
        check_target(self.target.sparsity)
        if self.target.train_sparsity is not None:
            check_target(self.target.train_sparsity, "target.train_sparsity")
        if not isinstance(self.target.snap, bool):
            raise ConpruneError(f"target.snap must be true or false, got {self.target.snap!r}")
        if self.lagrangian_config.lambda_optimizer not in LAMBDA_OPTIMIZERS:
            raise ConpruneError(f"lagrangian.lambda_optimizer must be one of {LAMBDA_OPTIMIZERS}, "
                                f"got {self.lagrangian_config.lambda_optimizer!r}")
        self.cost = CostModel.from_target(self.target.metric, self.target.ref_seconds, self.target.latency_table)
        teacher = self.load_teacher(teacher_ckpt, vocab_size)
        self.config = teacher.config
        self.model = copy.deepcopy(teacher).train().requires_grad_(True)
        self.gates = ConformerGates(self.model, self.gate_config)
        self.build_distiller(self.distill_config, self.config.d_model, self.config.num_layers)
        rho, fixed = self.lagrangian_config.penalty_rho, self.lagrangian_config.lambda_optimizer == "fixed"
        weight = self.lagrangian_config.l0_weight if fixed else None
        self.lagrangian = LagrangianController(0.0 if fixed else rho, weight)
        self.structure_targets = check_structure_targets(self.target.structures)
        self.structure_lagrangians = nn.ModuleDict(
            {group: LagrangianController(0.0 if fixed else rho, weight) for group in self.structure_targets})
        self.dense_units = {key: shape[0] for key, shape in gate_shapes(self.config).items()
                            if len(shape) == 1 and key != "hidden"}
        self.cost.check_fits(self.config)
        self.total_cost = self.cost.exact(self.config)
        self.sparsity_target = 0.0

    @property
    def train_target(self) -> float:
        """The sparsity the ramp and the Lagrangian aim at in the gate phase (`target.train_sparsity`)."""
        return self.target.sparsity if self.target.train_sparsity is None else self.target.train_sparsity

    # -- cost ----------------------------------------------------------------------------
    def expected_sparsity(self) -> torch.Tensor:
        """ŝ: the expected fraction of the dense cost removed, differentiable in the gates' log α."""
        return 1.0 - self.cost.expected(self.config, self.gates.keep_probs()) / self.total_cost

    @torch.no_grad()
    def sparsity_of(self, gates: Mapping[str, torch.Tensor]) -> float:
        """Exact sparsity of the model that deterministic gate values cut."""
        masks = {k: (v > 0).float() for k, v in gates.items()}
        return 1.0 - self.cost.exact(pruned_config(self.config, masks)) / self.total_cost

    def deterministic_sparsity(self) -> float:
        return self.sparsity_of(self.gates.deterministic())

    # -- steps ---------------------------------------------------------------------------
    def compute_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """One training step's losses (sampled gates); `total` is what the optimizer minimises."""
        out = self.model(batch["features"], batch["lengths"], gates=self.gates(), return_hidden=True)
        task, losses = self.distill(out, batch, self.distill_config)
        losses["sparsity/expected"] = self.expected_sparsity()
        losses["loss/lagrangian"] = self.lagrangian(losses["sparsity/expected"], self.sparsity_target)
        if self.structure_targets:
            keep, progress = self.gates.keep_probs(), self.sparsity_target / self.train_target
            for group, final in self.structure_targets.items():
                removed = removed_fraction(keep, group, self.dense_units)
                losses[f"sparsity/expected/{group}"] = removed
                losses["loss/lagrangian"] = losses["loss/lagrangian"] + self.structure_lagrangians[group](
                    removed, final * progress)
        losses["total"] = task + losses["loss/lagrangian"]
        return losses

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        losses = self.compute_losses(batch)
        size = len(batch["ids"])
        total = losses.pop("total")
        self.log_dict({**losses, "lagrangian/lambda1": self.lagrangian.lambda1,
                       "lagrangian/lambda2": self.lagrangian.lambda2}, batch_size=size)
        for group, control in self.structure_lagrangians.items():
            self.log(f"lagrangian/{group}/lambda1", control.lambda1, batch_size=size)
        if batch_idx % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("sparsity/deterministic", self.deterministic_sparsity(), batch_size=size)
        self.log("train/loss", total, prog_bar=True, batch_size=size)
        return total

    def forward_eval(self, batch: dict):
        return self.model(batch["features"], batch["lengths"], gates=self.gates.deterministic())

    def on_validation_epoch_start(self) -> None:
        """Snap the cut to the target (`target.snap`) once the ramp has reached it; every rank
        computes the same offset from the same log α."""
        offset = 0.0
        if self.target.snap and self.sparsity_target >= self.train_target:
            offset = snap_offset(self.gates, self.sparsity_of, self.target.sparsity, self.target.tolerance)
        self.gates.count_offset.fill_(offset)
        self.log("sparsity/count_offset", offset)

    def on_validation_epoch_end(self) -> None:
        results = self._eval_epoch_end("val")
        sparsity = self.deterministic_sparsity()
        gap = abs(sparsity - self.target.sparsity)
        at_target = results["all"] if gap <= self.target.tolerance else 1.0 + gap
        self.log("sparsity/deterministic", sparsity)
        if self.structure_targets:
            masks = {k: (v > 0).float() for k, v in self.gates.deterministic().items()}
            for group in self.structure_targets:
                self.log(f"sparsity/deterministic/{group}", removed_fraction(masks, group, self.dense_units))
        self.log("val/wer_at_target", at_target)

    # -- optimisation --------------------------------------------------------------------
    def configure_optimizers(self):
        lagrangian = self.lagrangian_config
        decay, no_decay = decay_split(self.model, self.distiller)
        scheduled = [{"params": decay, "lr": self.optim.lr, "weight_decay": self.optim.weight_decay},
                     {"params": no_decay, "lr": self.optim.lr, "weight_decay": 0.0}]
        gates = [{"params": list(self.gates.log_alpha_parameters()), "lr": lagrangian.log_alpha_lr,
                  "weight_decay": 0.0}]
        scheduled, constant = (scheduled + gates, []) if lagrangian.schedule_gates else (scheduled, gates)
        if lagrangian.lambda_optimizer == "adam":
            constant.append({"params": self.lambda_parameters(), "lr": lagrangian.lambda_lr, "weight_decay": 0.0})
        return adamw_with_schedule(self.trainer, self.optim, scheduled, tuple(constant))

    def lambda_parameters(self) -> list[torch.nn.Parameter]:
        """The multipliers of the main target and of every structure target."""
        return [*self.lagrangian.parameters(), *self.structure_lagrangians.parameters()]

    def on_before_optimizer_step(self, optimizer) -> None:
        """Plain gradient ascent on λ (`lambda_optimizer: sgd`), once per optimizer step.

        Runs after DDP has averaged the gradients and before clipping (λ's gradient is the gap
        itself and must not be clipped with the network's). The reversal hook already negated the
        gradient, so a descent step on it is an ascent step on the Lagrangian.
        """
        if self.lagrangian_config.lambda_optimizer != "sgd":
            return
        with torch.no_grad():
            for param in self.lambda_parameters():
                if param.grad is not None:
                    param.sub_(self.lagrangian_config.lambda_lr * param.grad)
                    param.grad = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the teacher's tokenizer/CMVN and the dense config next to the student weights."""
        checkpoint["conprune"] = {**self.teacher_extra, "model_config": self.config.to_dict(),
                                  "stage": "prune", "kept_counts": self.gates.kept_counts()}
