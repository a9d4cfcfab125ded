"""FinetuneModule: train a compact student further, gates fixed, with the prune stage's distillation.

After pruning, the structure is decided; the compact model (`conprune compact`) is smaller and
cheaper to train than the gated dense student, so recovery training runs on it directly. The
objective is exactly the prune stage's (layer + posterior distillation, optional ground-truth
CTC; `conprune/lit/distillation.py`), which is also what the magnitude / random baselines get,
so every method sees the same fine-tuning.
"""

from __future__ import annotations

import torch

from conprune.errors import ConpruneError
from conprune.lit.distillation import DistillationModule
from conprune.lit.optim import adamw_with_schedule, decay_split
from conprune.models.package import load_model
from conprune.settings_base import plain
from conprune.stages.checkpoint_io import check_same_tokenizer
from conprune.stages.settings import DistillConfig, OptimConfig, coerce

FINETUNE_OPTIM, DISTILL = OptimConfig(lr=3e-4, warmup_steps=50), DistillConfig()


class FinetuneModule(DistillationModule):
    """Compact student + frozen teacher; logs `loss/layer`, `loss/kd` (and `loss/ctc`), `val/wer`.

    Args:
        student_model: model file from `conprune compact` (a pruned student or a baseline).
        teacher_ckpt: the teacher stage's checkpoint.
        vocab_size: linked from `data.num_pieces + 1`; must match both models.
        distill: the prune stage's distillation objective (`DistillConfig`; student and teacher
            have the same depth: pruning removes modules inside blocks, never blocks).
        optim: AdamW and its schedule (`OptimConfig`).
        compile: torch.compile the student's encoder blocks (see `CtcModule.configure_model`).
    """

    def __init__(self, student_model: str, teacher_ckpt: str, vocab_size: int | None = None,
                 distill: DistillConfig = DISTILL, optim: OptimConfig = FINETUNE_OPTIM,
                 compile: bool = False) -> None:
        super().__init__()
        self.distill_config = coerce(DistillConfig, distill, "distill")
        self.optim = coerce(OptimConfig, optim, "optim")
        self.save_plain_hyperparameters({"student_model": student_model, "teacher_ckpt": teacher_ckpt,
                                         "vocab_size": vocab_size, "distill": plain(self.distill_config),
                                         "optim": plain(self.optim), "compile": compile})
        self.model, self.package = load_model(student_model)
        self.model.train()
        self.config = self.model.config
        teacher = self.load_teacher(teacher_ckpt, vocab_size)
        if teacher.config.vocab_size != self.config.vocab_size or teacher.config.num_layers != self.config.num_layers:
            raise ConpruneError(f"student {student_model} ({self.config.num_layers} layers, vocabulary "
                                f"{self.config.vocab_size}) does not belong to teacher {teacher_ckpt} "
                                f"({teacher.config.num_layers} layers, vocabulary {teacher.config.vocab_size}): "
                                "compact the student of this teacher's prune run")
        self.build_distiller(self.distill_config, self.config.d_model, self.config.num_layers)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        check_same_tokenizer(self.package.get("tokenizer"), self.trainer.datamodule, self.hparams.student_model)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self.model(batch["features"], batch["lengths"], return_hidden=True)
        task, losses = self.distill(out, batch, self.distill_config)
        self.log_dict(losses, batch_size=len(batch["ids"]))
        self.log("train/loss", task, prog_bar=True, batch_size=len(batch["ids"]))
        return task

    def configure_optimizers(self):
        decay, no_decay = decay_split(self.model, self.distiller)
        groups = [{"params": decay, "weight_decay": self.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return adamw_with_schedule(self.trainer, self.optim, groups)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """What `conprune compact` needs to export the finetuned model: its (compact) config etc."""
        meta = dict(self.package.get("meta") or {})
        checkpoint["conprune"] = {**self.teacher_extra, "model_config": self.config.to_dict(), "stage": "finetune",
                                  "dense_config": meta.get("dense_config"), "student_model": self.hparams.student_model}
