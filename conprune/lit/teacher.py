"""TeacherModule: trains the dense Conformer-CTC that every later stage prunes and distils from."""

from __future__ import annotations

import torch

from conprune.errors import ConpruneError
from conprune.lit.ctc_module import CtcModule, ctc_loss
from conprune.lit.schedule import decay_split, warmup_decay
from conprune.models.config import ConformerConfig, preset
from conprune.models.conformer import ConformerCTC

PER_LAYER_FIELDS = ("heads", "ffn1_dim", "ffn2_dim", "conv_channels")


def build_config(preset_name: str, vocab_size: int, overrides: dict | None) -> ConformerConfig:
    """A size preset with field overrides, e.g. `{num_layers: 8, ffn_dim: 512}`.

    `ffn_dim` sets both macaron FFNs; an int for a per-layer field applies to every layer; when
    `num_layers` changes, per-layer lists of the preset are broadcast from their first entry.
    """
    fields = preset(preset_name, vocab_size).to_dict()
    overrides = dict(overrides or {})
    if "ffn_dim" in overrides:
        ffn = overrides.pop("ffn_dim")
        overrides.setdefault("ffn1_dim", ffn)
        overrides.setdefault("ffn2_dim", ffn)
    fields.update(overrides)
    layers = fields["num_layers"]
    for key in PER_LAYER_FIELDS:
        value = fields[key]
        if isinstance(value, int):
            fields[key] = [value] * layers
        elif len(value) != layers and key not in overrides:
            fields[key] = [value[0]] * layers
    return ConformerConfig.from_dict(fields)


class TeacherModule(CtcModule):
    """Dense Conformer-CTC trained on labels with CTC.

    Args:
        preset: model size (`tiny`, `demo`, `small`, `medium`; table in experiments/teacher.yaml).
        vocab_size: CTC classes incl. blank; linked from `data.num_pieces + 1` by the CLI.
        model_overrides: ConformerConfig fields to change, e.g. `{num_layers: 8, ffn_dim: 512}`.
        lr: peak AdamW learning rate; weight_decay applies to matrices only (not norms/biases).
        warmup_steps, lr_schedule, min_lr_ratio: see `conprune.lit.schedule.warmup_decay`.
        init_model: optional model file (`conprune compact` / `conprune baseline --method dense`)
            to start from instead of a fresh preset: its config and weights are used, `preset`
            and `model_overrides` are ignored (the dense from-scratch baseline trains this way).
        inter_ctc_weight: weight of an intermediate CTC loss on the middle block's output through
            the shared head (Lee & Watanabe 2021); it adds no parameters and gives lower layers a
            direct alignment signal, which shortens the initial blank plateau. 0 = off.
        compile: torch.compile the encoder blocks (see `CtcModule.configure_model`); default off.
    """

    def __init__(self, preset: str = "demo", vocab_size: int = 257, model_overrides: dict | None = None,
                 lr: float = 2e-3, weight_decay: float = 1e-3, betas: tuple[float, float] = (0.9, 0.98),
                 warmup_steps: int = 500, lr_schedule: str = "cosine", min_lr_ratio: float = 0.02,
                 inter_ctc_weight: float = 0.0, init_model: str | None = None, compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
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
        hp = self.hparams
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp.lr, betas=tuple(hp.betas))
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_decay(step, hp.warmup_steps, total, hp.lr_schedule, hp.min_lr_ratio))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store what a standalone model needs next to the weights: config, tokenizer, CMVN."""
        extra = {"model_config": self.config.to_dict()}
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is not None and dm.tokenizer is not None:
            extra["tokenizer"] = dm.tokenizer.model_proto
            extra["cmvn"] = {"mean": dm.cmvn.mean.tolist(), "std": dm.cmvn.std.tolist(), **dm.front_end}
        checkpoint["conprune"] = extra
