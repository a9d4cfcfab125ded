"""Distillation losses from a frozen teacher: layer-to-layer hidden states and CTC posteriors.

Layer loss (DPHuBERT): each chosen student layer's output goes through a linear projection to
the teacher's width, initialised to identity (so at step 0 an unpruned student already matches
its teacher) and is compared with the mapped teacher layer by MSE, or L1 + cosine distance.
Posterior loss (CoFi): KL(teacher ‖ student) between CTC posteriors softened at temperature T,
scaled by T² so its gradient size does not depend on T. Padded frames are masked out of both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conprune.errors import ConpruneError

LAYER_LOSSES = ("mse", "l1_cos")


def default_layer_map(student_layers: int, teacher_layers: int, every: int = 2) -> dict[int, int]:
    """Map every `every`-th layer (and always the last) of the student to the same teacher layer."""
    if student_layers != teacher_layers:
        raise ConpruneError(f"default layer map needs equal depths (student {student_layers}, teacher "
                            f"{teacher_layers}); set model.init_args.layer_map explicitly")
    chosen = sorted({*range(every - 1, student_layers, every), student_layers - 1})
    return {layer: layer for layer in chosen}


def masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of `values` [B, T, ...] over valid frames (valid [B, T] bool) and trailing dims."""
    weights = valid.to(values.dtype)
    while weights.dim() < values.dim():
        weights = weights.unsqueeze(-1)
    per_frame = values.numel() // (values.shape[0] * values.shape[1])
    return (values * weights).sum() / (weights.sum() * per_frame).clamp_min(1.0)


class LayerDistiller(nn.Module):
    """Projections + loss for a {student layer: teacher layer} map."""

    def __init__(self, layer_map: Mapping[int, int], student_dim: int, teacher_dim: int,
                 loss: str = "l1_cos") -> None:
        super().__init__()
        if loss not in LAYER_LOSSES:
            raise ConpruneError(f"distillation layer loss must be one of {LAYER_LOSSES}, got {loss!r}")
        self.layer_map = {int(s): int(t) for s, t in layer_map.items()}
        self.loss = loss
        self.proj = nn.ModuleDict()
        for student_layer in self.layer_map:
            proj = nn.Linear(student_dim, teacher_dim)
            with torch.no_grad():
                proj.weight.copy_(torch.eye(teacher_dim, student_dim))
                proj.bias.zero_()
            self.proj[str(student_layer)] = proj

    def forward(self, student_hidden: Sequence[Tensor], teacher_hidden: Sequence[Tensor],
                valid: Tensor) -> Tensor:
        """Mean over mapped layers of the per-frame distance, padded frames excluded."""
        losses = []
        for student_layer, teacher_layer in self.layer_map.items():
            pred = self.proj[str(student_layer)](student_hidden[student_layer])
            target = teacher_hidden[teacher_layer].detach()
            if self.loss == "mse":
                losses.append(masked_mean((pred - target) ** 2, valid))
            else:
                l1 = masked_mean((pred - target).abs(), valid)
                cos = masked_mean(1 - F.cosine_similarity(pred, target, dim=-1), valid)
                losses.append(l1 + cos)
        return torch.stack(losses).mean()


def posterior_kd_loss(student_log_probs: Tensor, teacher_log_probs: Tensor, valid: Tensor,
                      temperature: float = 1.0) -> Tensor:
    """T² · KL(teacher_T ‖ student_T) per valid frame; inputs are log-softmax outputs [B, T, V]."""
    student = F.log_softmax(student_log_probs / temperature, dim=-1)
    teacher = F.log_softmax(teacher_log_probs.detach() / temperature, dim=-1)
    kl = (teacher.exp() * (teacher - student)).sum(-1)
    return masked_mean(kl, valid) * temperature ** 2
