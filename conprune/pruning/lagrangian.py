"""Lagrangian control of the expected sparsity (Wang et al. 2020; CoFi; DPHuBERT).

The penalty is `λ1·(t − ŝ) + λ2·(t − ŝ)²` with ŝ the expected sparsity of the gated model and t
the current target. The model minimises it; λ1 and λ2 are trained by gradient *ascent* on the
same loss, so while ŝ < t the multiplier λ1 rises and pushes the gates harder, and λ2 (whose
gradient (t − ŝ)² is never negative) grows the quadratic term until the target is met. Ascent is
done with a gradient-reversal hook on the λ parameters, so an ordinary optimizer (AdamW, no
weight decay, its own learning rate) can hold them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LagrangianController(nn.Module):
    """Holds λ1, λ2 and computes the penalty for (expected sparsity, target).

    With `fixed_lambda2=ρ`, λ2 is a constant ρ instead of a learned multiplier: the quadratic term
    is then a fixed restoring force proportional to the gap (an augmented-Lagrangian penalty),
    which damps the swings that a learned, ever-growing λ2 and an integrating λ1 produce.
    With `fixed_lambda1=w` as well (and ρ = 0), the penalty is w·(t − ŝ): a plain L0 penalty of
    weight w on the expected cost, blind to the target (the ablation of the Lagrangian).
    """

    def __init__(self, fixed_lambda2: float | None = None, fixed_lambda1: float | None = None) -> None:
        super().__init__()
        self.lambda1 = nn.Parameter(torch.tensor(float(fixed_lambda1 or 0.0)), requires_grad=fixed_lambda1 is None)
        learned = fixed_lambda2 is None
        self.lambda2 = nn.Parameter(torch.tensor(0.0 if learned else float(fixed_lambda2)), requires_grad=learned)
        for param in (self.lambda1, self.lambda2):
            if param.requires_grad:
                param.register_hook(torch.neg)

    def forward(self, expected_sparsity: Tensor, target: float | Tensor) -> Tensor:
        gap = torch.as_tensor(target, dtype=expected_sparsity.dtype, device=expected_sparsity.device)
        gap = gap - expected_sparsity
        return self.lambda1 * gap + self.lambda2 * gap * gap


def check_target(value: float, field: str = "target") -> float:
    """A sparsity target must be a fraction in (0, 1): 0 prunes nothing, 1 removes everything."""
    from conprune.errors import ConpruneError

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ConpruneError(f"{field} must be a sparsity fraction in (0, 1), e.g. 0.5 for -50 %; "
                            f"got {value!r}")
    return float(value)
