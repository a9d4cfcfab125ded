"""TeacherModule: trains the dense Conformer-CTC that every later stage prunes and distils from."""

from __future__ import annotations

import torch

from conprune.errors import ConpruneError
from conprune.lit.ctc_module import CtcModule, ctc_loss
from conprune.lit.optim import adamw_with_schedule, decay_split
from conprune.models.config import build_config
from conprune.models.conformer import ConformerCTC
from conprune.settings_base import plain
from conprune.stages.checkpoint_io import conprune_extra
from conprune.stages.settings import OptimConfig, coerce

# From scratch: a higher peak LR and a longer warm-up than the distillation stages.
TEACHER_OPTIM = OptimConfig(lr=2e-3, warmup_steps=500, min_lr_ratio=0.02)


class TeacherModule(CtcModule):
    """Dense Conformer-CTC trained on labels with CTC.

    Args:
        preset: model size (`tiny`, `demo`, `small`, `medium`; table in experiments/teacher.yaml).
        vocab_size: CTC classes incl. blank; linked from `data.num_pieces + 1` by the CLI.
        model_overrides: ConformerConfig fields to change, e.g. `{num_layers: 8, ffn_dim: 512}`.
        optim: AdamW and its schedule (`OptimConfig`; the teacher trains from scratch, so a higher
            peak LR and a longer warm-up than the distillation stages).
        init_model: optional model file (`conprune compact` / `conprune baseline --method dense`)
            to start from instead of a fresh preset: its config and weights are used, `preset`
            and `model_overrides` are ignored (the dense from-scratch baseline trains this way).
        inter_ctc_weight: weight of an intermediate CTC loss on the middle block's output through
            the shared head (Lee & Watanabe 2021); it adds no parameters and gives lower layers a
            direct alignment signal, which shortens the initial blank plateau. 0 = off.
        compile: torch.compile the encoder blocks (see `CtcModule.configure_model`); default off.
    """

    def __init__(self, preset: str = "demo", vocab_size: int = 257, model_overrides: dict | None = None,
                 optim: OptimConfig = TEACHER_OPTIM,
                 inter_ctc_weight: float = 0.0, init_model: str | None = None, compile: bool = False) -> None:
        super().__init__()
        self.optim = coerce(OptimConfig, optim, "optim")
        self.save_plain_hyperparameters({"preset": preset, "vocab_size": vocab_size,
                                         "model_overrides": model_overrides, "optim": plain(self.optim),
                                         "inter_ctc_weight": inter_ctc_weight, "init_model": init_model,
                                         "compile": compile})
        if init_model:
            from conprune.models.package import load_model

            self.model, _ = load_model(init_model)
            self.model.train()
            self.config = self.model.config
            if self.config.vocab_size != vocab_size:
                raise ConpruneError(f"model.init_args.init_model {init_model} has vocabulary {self.config.vocab_size} "
                                    f"but the data's tokenizer gives {vocab_size}; use the same data.num_pieces")
        else:
            self.config = build_config(preset, vocab_size, model_overrides)
            self.model = ConformerCTC(self.config)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        weight = self.hparams.inter_ctc_weight
        out = self.model(batch["features"], batch["lengths"], return_hidden=weight > 0)
        targets = (batch["targets"], batch["target_lengths"])
        loss, too_short = ctc_loss(out.log_probs, out.lengths, *targets)
        size = len(batch["ids"])
        if weight > 0:
            middle = out.hidden[(len(out.hidden) - 1) // 2]
            inter, _ = ctc_loss(self.model.head(middle).float().log_softmax(-1), out.lengths, *targets)
            self.log("train/inter_ctc", inter, batch_size=size)
            loss = (1 - weight) * loss + weight * inter
        self.log("train/loss", loss, prog_bar=True, batch_size=size)
        self.log("train/ctc_too_short", too_short.float(), reduce_fx="sum", batch_size=size)
        self.log("train/frames", batch["lengths"].sum().float(), reduce_fx="sum", batch_size=size)
        return loss

    def configure_optimizers(self):
        decay, no_decay = decay_split(self.model)
        groups = [{"params": decay, "weight_decay": self.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return adamw_with_schedule(self.trainer, self.optim, groups)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store what a standalone model needs next to the weights: config, tokenizer, CMVN."""
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        has_data = dm is not None and dm.tokenizer is not None
        checkpoint["conprune"] = conprune_extra(self.config, dm.tokenizer.model_proto if has_data else None,
                                                dm.cmvn_settings() if has_data else None)
        if has_data:
            checkpoint["conprune"]["train_data"] = dm.train_fingerprint()
