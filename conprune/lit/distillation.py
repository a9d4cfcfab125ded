"""The distillation objective shared by the prune and finetune stages.

Both stages train a student against the frozen teacher with the same loss: a layer loss on the
mapped hidden states (through the identity-initialised projections of `LayerDistiller`), the KL
between CTC posteriors at temperature T, and optionally the ground-truth CTC loss. Padded frames
are masked out of every term. Keeping it in one place guarantees the finetune stage and the
baselines optimise exactly what the pruning stage did.

Under DDP the layer and posterior losses are means over the valid frames of *all* ranks: each
rank's frame mean is rescaled by (its frames) / (all frames / world size), so after DDP averages
the gradients the update equals one device's on the union of the ranks' batches (the CTC term is
normalised the same way by target tokens, see `conprune/lit/ctc_module.py`). On one device the
factor is exactly 1.
"""

from __future__ import annotations

import torch

from conprune.lit.ctc_module import ctc_loss, global_mean_denominator
from conprune.models.conformer import ConformerCTC, ModelOutput
from conprune.pruning.distill import LayerDistiller, posterior_kd_loss


def distillation_losses(student_out: ModelOutput, teacher_out: ModelOutput, distiller: LayerDistiller,
                        batch: dict, layer_weight: float, kd_weight: float, kd_temperature: float,
                        ctc_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(weighted task loss, {loss/layer, loss/kd[, loss/ctc]}) for one batch."""
    log_probs, lengths = student_out.log_probs, student_out.lengths
    valid = torch.arange(log_probs.shape[1], device=log_probs.device)[None, :] < lengths[:, None]
    frames = valid.sum().float()
    scale = frames.clamp_min(1.0) / global_mean_denominator(frames)
    losses = {"loss/layer": distiller(student_out.hidden, teacher_out.hidden, valid) * scale,
              "loss/kd": posterior_kd_loss(log_probs, teacher_out.log_probs, valid, kd_temperature) * scale}
    task = layer_weight * losses["loss/layer"] + kd_weight * losses["loss/kd"]
    if ctc_weight > 0:
        # Utterances whose output is shorter than their label are zeroed by CTC; count them.
        losses["loss/ctc"], too_short = ctc_loss(log_probs, lengths, batch["targets"], batch["target_lengths"])
        losses["train/ctc_too_short"] = too_short.float()
        task = task + ctc_weight * losses["loss/ctc"]
    return task, losses


@torch.no_grad()
def teacher_forward(teacher: ConformerCTC, batch: dict) -> ModelOutput:
    """The frozen teacher's outputs with every block's hidden state."""
    return teacher(batch["features"], batch["lengths"], return_hidden=True)
