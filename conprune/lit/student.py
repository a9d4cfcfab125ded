"""PrunedStudentModule: learns which structures to remove while distilling from the teacher.

The student starts as a copy of the teacher with Hard-Concrete gates on every structure group.
Each step samples gates, runs teacher (frozen, eval, no grad, not a parameter of the module, so
DDP never sees it) and student, and minimises layer + posterior distillation (+ optional CTC)
plus the Lagrangian penalty that drives the expected sparsity ŝ to the target t(step) owned by
the `SparsityRamp` callback. Sparsity is measured against the teacher's total parameters or
MACs (`target_metric`). Validation decodes with the deterministic gates and logs
`val/wer_at_target`: the WER when the deterministic sparsity is within `sparsity_tolerance` of
the final target, else 1 + the gap, so checkpoint selection only considers models at the target.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from conprune.errors import ConpruneError
from conprune.lit.checkpoint_io import check_same_front_end, check_same_tokenizer, load_ctc_model
from conprune.lit.ctc_module import CtcModule
from conprune.lit.distillation import distillation_losses, teacher_forward
from conprune.lit.schedule import decay_split, warmup_decay
from conprune.pruning.cost import (
    count_cost,
    expected_macs,
    expected_params,
    pruned_config,
    ref_frames,
)
from conprune.pruning.distill import LayerDistiller, default_layer_map
from conprune.pruning.gates import ConformerGates, GateConfig, config_gate_shapes
from conprune.pruning.lagrangian import LagrangianController, check_target
from conprune.pruning.structure_targets import check_structure_targets, removed_fraction

LAMBDA_OPTIMIZERS = ("sgd", "adam")
METRICS = ("params", "macs")


class PrunedStudentModule(CtcModule):
    """Structured pruning with L0 gates, a Lagrangian target and layerwise distillation.

    Args:
        teacher_ckpt: checkpoint of the teacher stage (`runs/teacher/checkpoints/best.ckpt`).
        vocab_size: linked from `data.num_pieces + 1`; must match the teacher's (None: take the teacher's).
        target: final sparsity in (0, 1) of `target_metric` (`params` or `macs`).
        ref_seconds: utterance length at which MACs are counted (attention's T² term included).
        gates: GateConfig fields (which structure groups are prunable, their initial keep-probs).
        layer_map: {student layer: teacher layer} for the layer loss; default every `layer_every`-th.
        layer_loss: `l1_cos` (DPHuBERT) or `mse`; layer_weight, kd_weight, kd_temperature, ctc_weight:
            weights of layer loss, posterior KL at temperature T, and ground-truth CTC.
        lr, weight_decay, warmup_steps, lr_schedule, min_lr_ratio: student weights (AdamW).
        log_alpha_lr: gate parameters (AdamW, no weight decay, constant LR).
        lambda_lr, lambda_optimizer: Lagrange multipliers, by gradient ascent at a constant LR with
            no weight decay. `adam` (default): in the AdamW group, so λ moves by about lr per
            step. `sgd`: plain ascent, λ1 += lr·(t − ŝ). Measured on the demo (H200, 8 runs,
            bench/prune_lambda_sweep_h200.jsonl): plain ascent swung the sparsity by ±20 % around
            the target; Adam at 0.01-0.05 stayed within 3-5 %.
        penalty_rho: a fixed λ2 (quadratic restoring force) instead of a learned one; None = learned.
        structure_targets: optional fractions of units to remove per group, e.g.
            `{ffn_units: 0.6, heads: 0.3}` (groups: heads, ffn_units, conv_channels), each with its
            own Lagrangian term and ramped like the main target (see pruning/structure_targets.py).
        sparsity_tolerance: |deterministic − target| allowed for checkpoint selection.
        compile: torch.compile the student's encoder blocks (see `CtcModule.configure_model`).
    """

    def __init__(self, teacher_ckpt: str, vocab_size: int | None = None, target: float = 0.5,
                 target_metric: str = "params", ref_seconds: float = 10.0, gates: dict | None = None,
                 layer_map: dict[int, int] | None = None, layer_every: int = 2, layer_loss: str = "l1_cos",
                 layer_weight: float = 1.0, kd_weight: float = 1.0, kd_temperature: float = 1.0,
                 ctc_weight: float = 0.0, lr: float = 5e-4, weight_decay: float = 1e-3,
                 warmup_steps: int = 100, lr_schedule: str = "cosine", min_lr_ratio: float = 0.05,
                 log_alpha_lr: float = 0.02, lambda_lr: float = 0.01, lambda_optimizer: str = "adam",
                 penalty_rho: float | None = None, structure_targets: dict[str, float] | None = None,
                 sparsity_tolerance: float = 0.01, compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_target(target)
        if lambda_optimizer not in LAMBDA_OPTIMIZERS:
            raise ConpruneError(f"lambda_optimizer must be one of {LAMBDA_OPTIMIZERS}, got {lambda_optimizer!r}")
        if target_metric not in METRICS:
            raise ConpruneError(f"target_metric must be one of {METRICS}, got {target_metric!r}")
        teacher, extra = load_ctc_model(teacher_ckpt, vocab_size)
        self.teacher_extra = extra
        self.config = teacher.config
        self.model = copy.deepcopy(teacher)
        teacher.eval().requires_grad_(False)
        object.__setattr__(self, "teacher", teacher)  # not a submodule: no DDP sync, not checkpointed
        self.gates = ConformerGates(self.model, GateConfig.from_dict(gates))
        depth = self.config.num_layers
        mapping = layer_map or default_layer_map(depth, depth, layer_every)
        self.distiller = LayerDistiller(mapping, self.config.d_model, self.config.d_model, layer_loss)
        self.lagrangian = LagrangianController(penalty_rho)
        self.structure_targets = check_structure_targets(structure_targets)
        self.structure_lagrangians = nn.ModuleDict(
            {group: LagrangianController(penalty_rho) for group in self.structure_targets})
        self.dense_units = {key: shape[0] for key, shape in config_gate_shapes(self.config).items()
                            if len(shape) == 1 and key != "hidden"}
        self.frames = ref_frames(ref_seconds)
        self.total_cost = float(self.exact_cost(self.config))
        self.sparsity_target = 0.0

    # -- cost ----------------------------------------------------------------------------
    def exact_cost(self, config) -> float:
        return float(count_cost(config, self.hparams.target_metric, self.frames))

    def expected_sparsity(self) -> torch.Tensor:
        keep = self.gates.keep_probs()
        if self.hparams.target_metric == "params":
            cost = expected_params(self.config, keep)
        else:
            cost = expected_macs(self.config, keep, self.frames)
        return 1.0 - cost / self.total_cost

    @torch.no_grad()
    def deterministic_sparsity(self) -> float:
        masks = {k: (v > 0).float() for k, v in self.gates.deterministic().items()}
        return 1.0 - self.exact_cost(pruned_config(self.config, masks)) / self.total_cost

    # -- steps ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_same_tokenizer(self.teacher_extra.get("tokenizer"), self.trainer.datamodule, self.hparams.teacher_ckpt)
        check_same_front_end(self.teacher_extra.get("cmvn"), self.trainer.datamodule, self.hparams.teacher_ckpt)

    def on_fit_start(self) -> None:
        self.teacher.to(self.device)

    def compute_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """One training step's losses (sampled gates); `total` is what the optimizer minimises."""
        hp = self.hparams
        teacher_out = teacher_forward(self.teacher, batch)
        out = self.model(batch["features"], batch["lengths"], gates=self.gates(), return_hidden=True)
        task, losses = distillation_losses(out, teacher_out, self.distiller, batch, hp.layer_weight, hp.kd_weight,
                                           hp.kd_temperature, hp.ctc_weight)
        losses["sparsity/expected"] = self.expected_sparsity()
        losses["loss/lagrangian"] = self.lagrangian(losses["sparsity/expected"], self.sparsity_target)
        if self.structure_targets:
            keep, progress = self.gates.keep_probs(), self.sparsity_target / hp.target
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

    def on_validation_epoch_end(self) -> None:
        results = self._eval_epoch_end("val")
        sparsity = self.deterministic_sparsity()
        gap = abs(sparsity - self.hparams.target)
        at_target = results["all"] if gap <= self.hparams.sparsity_tolerance else 1.0 + gap
        self.log("sparsity/deterministic", sparsity)
        if self.structure_targets:
            masks = {k: (v > 0).float() for k, v in self.gates.deterministic().items()}
            for group in self.structure_targets:
                self.log(f"sparsity/deterministic/{group}", removed_fraction(masks, group, self.dense_units))
        self.log("val/wer_at_target", at_target)

    # -- optimisation --------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        decay, no_decay = decay_split(self.model, self.distiller)
        groups = [{"params": decay, "lr": hp.lr, "weight_decay": hp.weight_decay},
                  {"params": no_decay, "lr": hp.lr, "weight_decay": 0.0},
                  {"params": list(self.gates.log_alpha_parameters()), "lr": hp.log_alpha_lr, "weight_decay": 0.0}]
        if hp.lambda_optimizer == "adam":
            groups.append({"params": self.lambda_parameters(), "lr": hp.lambda_lr, "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98))
        total = int(self.trainer.estimated_stepping_batches)

        def student(step: int) -> float:
            return warmup_decay(step, hp.warmup_steps, total, hp.lr_schedule, hp.min_lr_ratio)

        constant = [lambda s: 1.0] * (len(groups) - 2)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [student, student, *constant])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def lambda_parameters(self) -> list[torch.nn.Parameter]:
        """The multipliers of the main target and of every structure target."""
        return [*self.lagrangian.parameters(), *self.structure_lagrangians.parameters()]

    def on_before_optimizer_step(self, optimizer) -> None:
        """Plain gradient ascent on λ (`lambda_optimizer: sgd`), once per optimizer step.

        Runs after DDP has averaged the gradients and before clipping (λ's gradient is the gap
        itself and must not be clipped with the network's). The reversal hook already negated the
        gradient, so a descent step on it is an ascent step on the Lagrangian.
        """
        if self.hparams.lambda_optimizer != "sgd":
            return
        with torch.no_grad():
            for param in self.lambda_parameters():
                if param.grad is not None:
                    param.sub_(self.hparams.lambda_lr * param.grad)
                    param.grad = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the teacher's tokenizer/CMVN and the dense config next to the student weights."""
        checkpoint["conprune"] = {**self.teacher_extra, "model_config": self.config.to_dict(),
                                  "stage": "prune", "kept_counts": self.gates.kept_counts()}
