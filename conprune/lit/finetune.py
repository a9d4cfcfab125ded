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
from conprune.lit.checkpoint_io import check_same_front_end, check_same_tokenizer, load_ctc_model
from conprune.lit.ctc_module import CtcModule
from conprune.lit.distillation import distillation_losses, teacher_forward
from conprune.lit.schedule import decay_split, warmup_decay
from conprune.models.package import load_model
from conprune.pruning.distill import LayerDistiller, default_layer_map


class FinetuneModule(CtcModule):
    """Compact student + frozen teacher; logs `loss/layer`, `loss/kd` (and `loss/ctc`), `val/wer`.

    Args:
        student_model: model file from `conprune compact` (a pruned student or a baseline).
        teacher_ckpt: the teacher stage's checkpoint.
        vocab_size: linked from `data.num_pieces + 1`; must match both models.
        layer_map / layer_every, layer_loss, layer_weight, kd_weight, kd_temperature, ctc_weight:
            as in the prune stage (student and teacher have the same depth: pruning removes
            modules inside blocks, never blocks).
        lr, weight_decay, warmup_steps, lr_schedule, min_lr_ratio: AdamW and its schedule.
        compile: torch.compile the student's encoder blocks (see `CtcModule.configure_model`).
    """

    def __init__(self, student_model: str, teacher_ckpt: str, vocab_size: int | None = None,
                 layer_map: dict[int, int] | None = None, layer_every: int = 2, layer_loss: str = "l1_cos",
                 layer_weight: float = 1.0, kd_weight: float = 1.0, kd_temperature: float = 1.0,
                 ctc_weight: float = 0.0, lr: float = 3e-4, weight_decay: float = 1e-3, warmup_steps: int = 50,
                 lr_schedule: str = "cosine", min_lr_ratio: float = 0.05, compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model, self.package = load_model(student_model)
        self.model.train()
        self.config = self.model.config
        teacher, self.teacher_extra = load_ctc_model(teacher_ckpt, vocab_size)
        if teacher.config.vocab_size != self.config.vocab_size or teacher.config.num_layers != self.config.num_layers:
            raise ConpruneError(f"student {student_model} ({self.config.num_layers} layers, vocabulary "
                                f"{self.config.vocab_size}) does not belong to teacher {teacher_ckpt} "
                                f"({teacher.config.num_layers} layers, vocabulary {teacher.config.vocab_size}): "
                                "compact the student of this teacher's prune run")
        teacher.eval().requires_grad_(False)
        object.__setattr__(self, "teacher", teacher)  # not a submodule: no DDP sync, not checkpointed
        depth = self.config.num_layers
        mapping = layer_map or default_layer_map(depth, depth, layer_every)
        self.distiller = LayerDistiller(mapping, self.config.d_model, teacher.config.d_model, layer_loss)

    def setup(self, stage: str) -> None:
        dm, hp = self.trainer.datamodule, self.hparams
        check_same_tokenizer(self.teacher_extra.get("tokenizer"), dm, hp.teacher_ckpt)
        check_same_tokenizer(self.package.get("tokenizer"), dm, hp.student_model)
        check_same_front_end(self.teacher_extra.get("cmvn"), dm, hp.teacher_ckpt)

    def on_fit_start(self) -> None:
        self.teacher.to(self.device)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        hp = self.hparams
        out = self.model(batch["features"], batch["lengths"], return_hidden=True)
        task, losses = distillation_losses(out, teacher_forward(self.teacher, batch), self.distiller, batch,
                                           hp.layer_weight, hp.kd_weight, hp.kd_temperature, hp.ctc_weight)
        self.log_dict(losses, batch_size=len(batch["ids"]))
        self.log("train/loss", task, prog_bar=True, batch_size=len(batch["ids"]))
        return task

    def configure_optimizers(self):
        hp = self.hparams
        decay, no_decay = decay_split(self.model, self.distiller)
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr, betas=(0.9, 0.98))
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_decay(step, hp.warmup_steps, total, hp.lr_schedule, hp.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """What `conprune compact` needs to export the finetuned model: its (compact) config etc."""
        meta = dict(self.package.get("meta") or {})
        checkpoint["conprune"] = {**self.teacher_extra, "model_config": self.config.to_dict(), "stage": "finetune",
                                  "dense_config": meta.get("dense_config"), "student_model": self.hparams.student_model}
