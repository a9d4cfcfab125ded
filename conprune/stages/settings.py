"""The named groups of stage arguments, one dataclass each, read by LightningCLI as nested YAML.

A prune-stage YAML then says which group a key belongs to (`optim: {lr: ...}`, `distill:
{kd_weight: ...}`) instead of 25 flat arguments. Modules accept a dataclass or a plain dict (what a
checkpoint's hyperparameters hold: plain types only, so `torch.load(weights_only=True)` reads them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from conprune import settings_base

T = TypeVar("T")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and its learning-rate schedule (`conprune.lit.optim`).

    lr: peak learning rate; weight_decay: on matrices only (never norms or biases); warmup_steps,
    lr_schedule (`cosine`, `linear`, `noam`, `constant`), min_lr_ratio: see `warmup_decay`.
    """

    lr: float = 5e-4
    weight_decay: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.05


@dataclass(frozen=True)
class DistillConfig:
    """How a student learns from the frozen teacher (prune and finetune stages alike).

    layer_map: {student layer: teacher layer} for the layer loss; default every `layer_every`-th.
    layer_loss: `l1_cos` (DPHuBERT) or `mse`. layer_weight, kd_weight, kd_temperature, ctc_weight:
    weights of the layer loss, the posterior KL at temperature T, and the ground-truth CTC loss.
    """

    layer_map: dict[int, int] | None = None
    layer_every: int = 2
    layer_loss: str = "l1_cos"
    layer_weight: float = 1.0
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    ctc_weight: float = 0.0


@dataclass(frozen=True)
class TargetConfig:
    """What the prune stage aims at.

    sparsity: final fraction in (0, 1) of `metric` (`params`, `macs` or `latency`) removed, measured
    on the whole model against the teacher; `latency` is predicted by the measured per-structure
    table `latency_table` (`conprune bench latency-table`, on the device and threads deployed to). ref_seconds: utterance length at which MACs are counted
    (attention's T² term included). tolerance: |deterministic − target| allowed for checkpoint
    selection. structures: optional fractions of units to remove per group, e.g.
    `{ffn_units: 0.6, heads: 0.3}` (groups: heads, ffn_units, conv_channels), each with its own
    Lagrangian term and ramped like the main target (see pruning/structure_targets.py).
    snap: once the ramp has reached the target, a validation whose deterministic cut is farther
    than `tolerance` from it moves the gates' count offset so the cut lands on it
    (pruning/snap.py); the checkpoint, compaction and fine-tune then use that cut.
    train_sparsity: what the ramp and the Lagrangian aim at during the gate phase (None: `sparsity`);
    a lower value prunes more gently while the gates learn, and the snap then lands the cut on
    `sparsity`.
    """

    sparsity: float = 0.5
    metric: str = "params"
    ref_seconds: float = 10.0
    tolerance: float = 0.01
    structures: dict[str, float] | None = None
    latency_table: str | None = None
    snap: bool = True
    train_sparsity: float | None = None


@dataclass(frozen=True)
class LagrangianConfig:
    """How the constraint is optimised: the multipliers λ and the gate log α they act through.

    lambda_lr, lambda_optimizer: λ by gradient ascent at a constant LR, no weight decay. `adam`
    (default): in the AdamW group, so λ moves by about lr per step, however large the gap. `sgd`:
    plain ascent, λ1 += lr·(t − ŝ), whose steps grow with the gap, so λ overshoots and the
    sparsity swings around the target far more than under Adam (measured: docs/pruning.md).
    `fixed`: no multipliers at all, a plain L0 penalty `l0_weight`·(expected kept cost fraction).
    penalty_rho: a fixed λ2 (quadratic restoring force) instead of a learned one; None = learned.
    log_alpha_lr: the gates' log α (AdamW, no weight decay, constant LR).
    l0_weight: the penalty's weight with `lambda_optimizer: fixed` (tuned to land near the target).
    schedule_gates: log α's learning rate follows the student's warm-up and decay (as DPHuBERT),
        instead of staying constant, so late in the run the gates settle and stop swapping units.
    """

    lambda_lr: float = 0.01
    lambda_optimizer: str = "adam"
    penalty_rho: float | None = None
    log_alpha_lr: float = 0.02
    l0_weight: float = 1.0
    schedule_gates: bool = False


def coerce(cls: type[T], value: T | dict[str, Any] | None, group: str) -> T:
    """`settings_base.coerce` for a stage module's group: unknown keys are named under
    `model.init_args.<group>`."""
    return settings_base.coerce(cls, value, f"model.init_args.{group}")
