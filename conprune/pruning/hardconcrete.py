"""Hard Concrete gates (Louizos et al. 2018) for one group of n prunable units.

Training samples a gate z ∈ [0, 1] per unit with exact zeros and ones, so the L0 "norm"
(expected number of nonzero gates) is a smooth function of log α that the Lagrangian sparsity
loss can push on. Evaluation uses a deterministic gate that keeps exactly
k = round(expected count) units, so the model that is validated is the model that compaction
produces.

Deterministic values. CoFi/DPHuBERT give kept units sigmoid(0.8·log α/β) (never 1, so even an
unpruned model is damped at eval). We use the value of the sample at u = 0.5, i.e. the *median*
gate seen in training, clamp(sigmoid(log α/β)·(r−l)+l, 0, 1): a confidently kept unit gets
exactly 1, matching what training mostly saw. That median is 0 whenever P(z≠0) ≤ 0.5, yet the
top-k may still keep such a unit (many units at p≈0.4 add up to a positive k). A kept unit is
therefore floored at `MIN_KEPT`: it stays nonzero, compaction folds the value into the next
weights and keeps the slice, and the compacted model equals the deterministically gated one with
exactly `kept_count()` units per group. The floor is 0.01, not 1e-6, so folded weights stay in a
range that fine-tuning can still move; such a unit was mostly off in training, so a small value
is closer to what the network learned than 1.0 would be.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from conprune.errors import ConpruneError

BETA = 2.0 / 3.0
STRETCH = (-0.1, 1.1)
MIN_KEPT = 0.01
U_EPS = 1e-6  # keeps log u and log(1−u) finite


class HardConcrete(nn.Module):
    """Gates for `n` units with a learnable `log_alpha` [n]; sampled in train, deterministic in eval.

    `init_keep` is the keep-probability P(z≠0) at initialisation, exactly the quantity the cost
    model and Lagrangian see, so log α = logit(init_keep) + β·log(−l/r). `init_std` adds small
    noise (as CoFi/DPHuBERT) so the top-k of identical-looking units is not decided by index.
    """

    def __init__(self, n: int, init_keep: float = 0.99, init_std: float = 0.01, beta: float = BETA,
                 stretch: tuple[float, float] = STRETCH, align: int = 1) -> None:
        super().__init__()
        check_hard_concrete_args(init_keep, beta, stretch)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConpruneError(f"gate size n must be an int >= 1, got {n!r}")
        self.n, self.beta, self.align = n, float(beta), int(align)
        self.left, self.right = float(stretch[0]), float(stretch[1])
        # β·log(−l/r) is the shift between log α and the logit of P(z≠0).
        self.shift = self.beta * math.log(-self.left / self.right)
        mean = math.log(init_keep / (1.0 - init_keep)) + self.shift
        self.log_alpha = nn.Parameter(torch.empty(n).normal_(mean, init_std) if init_std > 0
                                      else torch.full((n,), mean))

    def extra_repr(self) -> str:
        return f"n={self.n}, beta={self.beta:.4g}, stretch=({self.left}, {self.right})"

    def forward(self) -> Tensor:
        """Gate values [n]: a fresh sample in training mode, `deterministic()` in eval mode."""
        if not self.training:
            return self.deterministic()
        u = torch.rand_like(self.log_alpha).clamp(U_EPS, 1.0 - U_EPS)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.beta)
        return (s * (self.right - self.left) + self.left).clamp(0.0, 1.0)

    def keep_prob(self) -> Tensor:
        """P(z≠0) per unit [n], differentiable in log α (the L0 penalty's building block)."""
        return torch.sigmoid(self.log_alpha - self.shift)

    def expected_count(self, offset: float = 0.0) -> Tensor:
        """Expected number of nonzero gates (scalar, differentiable), with `offset` subtracted from
        every log α (see `kept_count`)."""
        return torch.sigmoid(self.log_alpha - self.shift - offset).sum()

    def kept_count(self, offset: float = 0.0) -> int:
        """k = round(expected count), clipped to [0, n]: how many units the deterministic gate keeps.

        `offset` is subtracted from every log α in that count only (not in the kept values): a
        positive one keeps fewer units, the model-wide lever `pruning.snap` pulls to land on the
        target when the gates stopped short of it. With `align` > 1 a nonzero k is rounded to the
        nearest multiple of `align` (at least one multiple, at most n): hardware-friendly widths,
        still as close as possible to what the gates pay for in the cost model, so the target
        stays honest.
        """
        with torch.no_grad():
            k = int(torch.round(self.expected_count(offset)).clamp(0, self.n).item())
        if self.align > 1 and k:
            k = min(self.n, max(self.align, round(k / self.align) * self.align))
        return k

    def median(self) -> Tensor:
        """The gate at u = 0.5 per unit [n] (the median of the clamped stretched distribution)."""
        s = torch.sigmoid(self.log_alpha / self.beta)
        return (s * (self.right - self.left) + self.left).clamp(0.0, 1.0)

    @torch.no_grad()
    def deterministic(self, offset: float = 0.0) -> Tensor:
        """Top-k units by log α keep max(median, MIN_KEPT); the rest are exactly 0 (no grad).

        k is `kept_count(offset)`. The sort is stable, so ties resolve the same way on every
        call: eval has no randomness.
        """
        k = self.kept_count(offset)
        gates = torch.zeros_like(self.log_alpha)
        if k:
            order = torch.sort(self.log_alpha.detach(), descending=True, stable=True).indices[:k]
            gates[order] = self.median()[order].clamp_min(MIN_KEPT)
        return gates


def check_hard_concrete_args(init_keep: float, beta: float, stretch: tuple[float, float],
                             where: str = "gate") -> None:
    """Raise ConpruneError naming the bad Hard Concrete setting (shared with GateConfig)."""
    if isinstance(init_keep, bool) or not isinstance(init_keep, (int, float)) or not 0.0 < init_keep < 1.0:
        raise ConpruneError(f"{where} init keep-probability must be a float in (0, 1), got {init_keep!r}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
        raise ConpruneError(f"{where} 'beta' (temperature) must be a float > 0, got {beta!r}")
    ok = len(stretch) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in stretch)
    if not ok or not (stretch[0] < 0.0 and stretch[1] > 1.0):
        raise ConpruneError(f"{where} stretch (l, r) (stretch_left, stretch_right) must be floats with "
                            f"l < 0 and r > 1, got {tuple(stretch)!r}")
