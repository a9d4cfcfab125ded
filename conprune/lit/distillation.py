"""What the prune and finetune stages share: the frozen teacher and the distillation objective.

Both stages train a student against the frozen teacher with the same loss: a layer loss on the
mapped hidden states (through the identity-initialised projections of `LayerDistiller`), the KL
between CTC posteriors at temperature T, and optionally the ground-truth CTC loss. Padded frames
are masked out of every term. `DistillationModule` holds the rest they share: loading and freezing
the teacher, checking the data's tokenizer and front end against it, and the distiller. Keeping
it in one place guarantees the finetune stage and the baselines optimise exactly what the pruning
stage did.

Under DDP the layer and posterior losses are means over the valid frames of *all* ranks: each
rank's frame mean is rescaled by (its frames) / (all frames / world size), so after DDP averages
the gradients the update equals one device's on the union of the ranks' batches (the CTC term is
normalised the same way by target tokens, see `conprune/lit/ctc_module.py`). On one device the
factor is exactly 1.
"""

from __future__ import annotations

import logging

import torch
from torchmetrics.functional.text import word_error_rate

from conprune.data.fingerprint import check_fingerprint, compare_fingerprints
from conprune.lit.ctc_module import CtcModule, ctc_loss, global_mean_denominator
from conprune.models.conformer import ConformerCTC, ModelOutput
from conprune.models.ctc import greedy_decode
from conprune.pruning.distill import LayerDistiller, default_layer_map, posterior_kd_loss
from conprune.stages.checkpoint_io import check_same_front_end, check_same_tokenizer, load_ctc_model
from conprune.stages.settings import DistillConfig

log = logging.getLogger(__name__)


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


class DistillationModule(CtcModule):
    """A student trained against a frozen teacher checkpoint (the prune and finetune stages).

    The teacher is evaluated in eval mode without gradients and is not a submodule: DDP never
    syncs it and checkpoints do not store it (its path does). Subclasses call `load_teacher`
    and `build_distiller` in `__init__` and `distill(out, batch)` in their training step.
    """

    teacher: ConformerCTC
    teacher_extra: dict

    def load_teacher(self, teacher_ckpt: str, vocab_size: int | None) -> ConformerCTC:
        """Load, freeze and attach the teacher; keep its tokenizer/CMVN (`teacher_extra`)."""
        teacher, self.teacher_extra = load_ctc_model(teacher_ckpt, vocab_size)
        teacher.eval().requires_grad_(False)
        object.__setattr__(self, "teacher", teacher)  # not a submodule: no DDP sync, not checkpointed
        return teacher

    def build_distiller(self, distill: DistillConfig, student_dim: int, depth: int) -> None:
        """The layer-loss projections (student → teacher width), one per mapped layer pair."""
        mapping = distill.layer_map or default_layer_map(depth, depth, distill.layer_every)
        self.distiller = LayerDistiller(mapping, student_dim, self.teacher.config.d_model, distill.layer_loss)

    def setup(self, stage: str) -> None:
        """Refuse data whose tokenizer or front end differs from the teacher's; warn (one line)
        when the training splits differ from those the teacher saw."""
        dm, source = self.trainer.datamodule, self.hparams.teacher_ckpt
        check_same_tokenizer(self.teacher_extra.get("tokenizer"), dm, source)
        check_same_front_end(self.teacher_extra.get("cmvn"), dm, source)
        if stage == "fit":
            self.check_training_data()

    def check_training_data(self) -> None:
        """Compare the teacher's training-data fingerprint with this run's training splits.

        Same sentences but other audio (e.g. another build of a TTS engine) is expected when a
        shipped teacher meets a freshly synthesised corpus: the teacher's dev WER on this corpus
        is measured and reported, so the user sees whether it still fits. Other sentences, or no
        split in common, are reported too; none of these stops the run.
        """
        trained, dm = self.teacher_extra.get("train_data"), self.trainer.datamodule
        if not trained or not hasattr(dm, "train_fingerprint"):
            return
        how, splits = compare_fingerprints(check_fingerprint(trained, str(self.hparams.teacher_ckpt)),
                                           dm.train_fingerprint())
        source = self.hparams.teacher_ckpt
        if how == "audio":
            card = (self.teacher_extra.get("meta") or {}).get("dev_wer")
            was = f" (its card: {100 * card:.1f} %)" if card is not None else ""
            log.warning("teacher %s: training split(s) %s have the sentences it was trained on but other audio "
                        "(another TTS engine build?); its dev WER on this corpus is %.1f %%%s",
                        source, ",".join(splits), 100 * self.teacher_dev_wer(dm), was)
        elif how == "text":
            log.warning("teacher %s: training split(s) %s hold other sentences than the ones it was trained on; "
                        "its card's numbers do not describe this corpus", source, ",".join(splits))
        elif how == "none":
            log.warning("teacher %s was trained on %s, this run trains on %s: no split in common",
                        source, ",".join(trained), ",".join(dm.train_splits))

    @torch.inference_mode()
    def teacher_dev_wer(self, dm) -> float:
        """The teacher's greedy WER over this run's validation splits (pooled)."""
        hyps, refs = [], []
        for loader in dm.val_dataloader():
            for batch in loader:
                out = self.teacher(batch["features"], batch["lengths"])
                hyps += [dm.tokenizer.decode(ids) for ids in greedy_decode(out.log_probs, out.lengths)]
                refs += batch["texts"]
        return float(word_error_rate(hyps, refs))

    def on_fit_start(self) -> None:
        self.teacher.to(self.device)

    def distill(self, out: ModelOutput, batch: dict, distill: DistillConfig) -> tuple[torch.Tensor, dict]:
        """(weighted task loss, {loss/layer, loss/kd[, loss/ctc]}) of the student's `out`."""
        return distillation_losses(out, teacher_forward(self.teacher, batch), self.distiller, batch,
                                   distill.layer_weight, distill.kd_weight, distill.kd_temperature,
                                   distill.ctc_weight)
