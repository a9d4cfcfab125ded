"""The optimizer of every stage: AdamW, weight decay on matrices only, LambdaLR warm-up + decay."""

from __future__ import annotations

import math

import torch


def warmup_decay(step: int, warmup_steps: int, total_steps: int, kind: str = "cosine",
                 min_ratio: float = 0.05) -> float:
    """Linear warm-up to 1, then decay to `min_ratio`.

    kind: `cosine` (to min_ratio at total_steps), `linear`, `noam` (inverse square root, which does
    not need total_steps) or `constant`. Short CPU runs do best with cosine to a small floor;
    open-ended runs on real LibriSpeech may prefer noam.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    if kind == "noam":
        return max(min_ratio, math.sqrt(max(1, warmup_steps) / max(1, step + 1)))
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if kind == "linear":
        return max(min_ratio, 1.0 - progress * (1.0 - min_ratio))
    if kind == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr schedule {kind!r}: use cosine, linear, noam or constant")


def decay_split(*modules: torch.nn.Module) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(matrices, the rest): weight decay applies to matrices only, never to norms or biases (the
    per-head `pos_bias_u`/`pos_bias_v` of relative attention are biases, though 2-D)."""
    decay, no_decay = [], []
    for module in modules:
        for name, param in module.named_parameters():
            is_bias = param.ndim < 2 or name.rsplit(".", 1)[-1].startswith("pos_bias")
            (no_decay if is_bias else decay).append(param)
    return decay, no_decay


def adamw_with_schedule(trainer, optim, scheduled: list[dict], constant: tuple[dict, ...] = ()) -> dict:
    """AdamW for every stage: the `scheduled` parameter groups follow `optim`'s warm-up + decay,
    each `constant` group keeps its own flat learning rate (gate log α, Lagrange multipliers).

    Returns what `configure_optimizers` returns; the schedule steps every optimizer step and its
    length is the trainer's `estimated_stepping_batches`.
    """
    optimizer = torch.optim.AdamW([*scheduled, *constant], lr=optim.lr, betas=tuple(optim.betas))
    total = int(trainer.estimated_stepping_batches)

    def schedule(step: int) -> float:
        return warmup_decay(step, optim.warmup_steps, total, optim.lr_schedule, optim.min_lr_ratio)

    lambdas = [schedule] * len(scheduled) + [lambda step: 1.0] * len(constant)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
