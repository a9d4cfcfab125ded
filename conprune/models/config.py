"""Per-layer Conformer-CTC configuration.

Every prunable count is stored per layer (heads, FFN widths, conv channels) so that a pruned,
compacted model is just another config: there is no separate "pruned model" class. A count of 0
means that module is absent in that layer. `head_dim` is fixed per model because pruning removes
whole heads, never shrinks them.

The fields after `pos_enc` let one config express other published Conformer-CTC families exactly
(Parakeet / FastConformer-CTC, LASR; see conprune.interop.hf_weights), so their checkpoints can be
pruned like our own. Each defaults to conprune's own model, so an older config dict, which lacks
them, loads into the same model it always did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from conprune.errors import ConpruneError, check_fields
from conprune.models.options import CONV_PADDINGS, RESIDUALS, check_options

CONV_NORMS = ("batchnorm", "layernorm")
# "rope" is rotary (relative) position encoding: no parameters, per-head, so pruning a head
# needs no extra slicing and attention MACs stay Q·Kᵀ + A·V + projections. "rel_xl" is
# Transformer-XL relative attention (Parakeet / FastConformer): a bias-free `linear_pos` projection
# of a sinusoid table over the 2T−1 relative distances and per-head biases `pos_bias_u`/`pos_bias_v`;
# all three are per head, so a head is still pruned as one slice.
POS_ENCODINGS = ("rope", "abs", "none", "rel_xl")
PER_LAYER = ("heads", "ffn1_dim", "ffn2_dim", "conv_channels")


@dataclass
class ConformerConfig:
    """Shape of a Conformer-CTC model; `to_dict()` is what checkpoints store."""

    d_model: int
    num_layers: int
    vocab_size: int
    heads: list[int]
    head_dim: int
    ffn1_dim: list[int]
    ffn2_dim: list[int]
    conv_channels: list[int]
    input_dim: int = 80
    conv_kernel: int = 15
    dropout: float = 0.1
    attn_dropout: float = 0.1
    subsampling_channels: int | None = None
    subsampling: str = "conv2d"
    subsampling_factor: int = 4
    conv_norm: str = "batchnorm"
    pos_enc: str = "rope"
    # Front end: kernel of every front-end conv; `subsampling_padded` pads the 2-D kinds by
    # (k−1)//2 on each side (Parakeet/NeMo), so frames map n ↦ ⌊(n−1)/s⌋+1 and padded frames are
    # zeroed before every conv; `input_scale` multiplies its output (Parakeet's √d_model xscale).
    subsampling_kernel: int = 3
    subsampling_padded: bool = False
    input_scale: float = 1.0
    rope_theta: float = 10000.0
    # Bias of q/k/v/out, of both FFN linears, of the conv module's pw1/depthwise/pw2, and of every
    # LayerNorm; norm epsilons and the conv module's BatchNorm momentum.
    attn_bias: bool = True
    ffn_bias: bool = True
    conv_bias: bool = True
    norm_bias: bool = True
    norm_eps: float = 1e-5
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    activation: str = "silu"  # of the FFNs and the conv module
    conv_padding: str = "symmetric"
    # Residual weights (a, b): x ← a·x + b·module(x), kept (x ← a·x) when the module is absent.
    ffn_residual: list[float] = field(default_factory=lambda: [1.0, 0.5])
    conv_residual: list[float] = field(default_factory=lambda: [1.0, 1.0])
    final_norm: bool = False  # a LayerNorm after the last block (LASR's encoder out_norm)

    def __post_init__(self) -> None:
        if self.subsampling_channels is None:
            self.subsampling_channels = self.d_model
        for name in PER_LAYER + RESIDUALS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                setattr(self, name, list(value))
        self.validate()

    def validate(self) -> None:
        """Raise ConpruneError naming the first bad field; called on every construction."""
        for name in ("d_model", "num_layers", "vocab_size", "head_dim", "conv_kernel", "subsampling_channels"):
            _check_int(name, getattr(self, name), minimum=1)
        if self.subsampling not in SUBSAMPLING:
            raise ConpruneError(f"model config subsampling={self.subsampling!r}: use one of {SUBSAMPLING}")
        if self.subsampling_factor not in SUBSAMPLING_STRIDES:
            raise ConpruneError(f"model config field 'subsampling_factor' must be one of "
                                f"{sorted(SUBSAMPLING_STRIDES)}, got {self.subsampling_factor!r}")
        _check_int("subsampling_kernel", self.subsampling_kernel, minimum=1)
        if self.subsampling == "conv1d" and (self.subsampling_factor != 4 or self.subsampling_padded):
            raise ConpruneError("model config subsampling='conv1d' (LASR's front end) needs subsampling_factor 4 "
                                "and subsampling_padded false")
        legacy = self.subsampling != "conv1d" and (self.subsampling_kernel, self.subsampling_padded) == (3, False)
        # the 3×3 stride-2 front end needs >= 7 bins; another 2-D front end at least one output bin
        _check_int("input_dim", self.input_dim,
                   minimum=7 if legacy else 1 if self.subsampling == "conv1d" else self.min_input_frames)
        for name in PER_LAYER:
            value = getattr(self, name)
            if not isinstance(value, list) or len(value) != self.num_layers:
                raise ConpruneError(
                    f"model config field '{name}' must be a list of {self.num_layers} ints "
                    f"(one per layer, num_layers={self.num_layers}), got {value!r}")
            for i, v in enumerate(value):
                _check_int(f"{name}[{i}]", v, minimum=0)
        if self.conv_padding not in CONV_PADDINGS:
            raise ConpruneError(f"model config field 'conv_padding' must be one of {CONV_PADDINGS}, "
                                f"got {self.conv_padding!r}")
        if self.conv_kernel % 2 == 0 and self.conv_padding != "same":
            raise ConpruneError(f"model config field 'conv_kernel' must be odd (or set conv_padding: same), "
                                f"got {self.conv_kernel}")
        if self.conv_norm not in CONV_NORMS:
            raise ConpruneError(f"model config field 'conv_norm' must be one of {CONV_NORMS}, "
                                f"got {self.conv_norm!r}")
        if self.pos_enc not in POS_ENCODINGS:
            raise ConpruneError(f"model config field 'pos_enc' must be one of {POS_ENCODINGS}, "
                                f"got {self.pos_enc!r}")
        if self.pos_enc == "rope" and self.head_dim % 2:
            raise ConpruneError(f"model config field 'head_dim' must be even for pos_enc='rope', "
                                f"got {self.head_dim}")
        if self.pos_enc in ("abs", "rel_xl") and self.d_model % 2:
            raise ConpruneError(f"model config field 'd_model' must be even for pos_enc={self.pos_enc!r}, "
                                f"got {self.d_model}")
        for name in ("dropout", "attn_dropout"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ConpruneError(f"model config field '{name}' must be a float in [0, 1), got {p!r}")
        check_options(self)

    @property
    def strides(self) -> tuple[int, ...]:
        """Time (and, for the 2-D front ends, frequency) stride of each front-end conv."""
        return SUBSAMPLING_STRIDES[self.subsampling_factor]

    @property
    def subsampling_padding(self) -> int:
        """Padding on each side of every front-end conv (0 unless `subsampling_padded`)."""
        return (self.subsampling_kernel - 1) // 2 if self.subsampling_padded else 0

    def subsampled_length(self, n: Any) -> Any:
        """Frames left after the front end from n input frames (int or integer tensor); for the 2-D
        kinds also the frequency bins left from n bins."""
        return subsampled(n, self.strides, self.subsampling_kernel, self.subsampling_padding)

    @property
    def min_input_frames(self) -> int:
        """The fewest input frames that give one output frame."""
        n = 1
        while self.subsampled_length(n) < 1:
            n += 1
        return n

    @classmethod
    def family_options(cls) -> dict[str, Any]:
        """The family options (the fields after `pos_enc`) and their defaults: what a config written
        before an option existed had, so readers can fill them in."""
        fields = dataclasses.fields(cls)
        names = [f.name for f in fields]
        return {f.name: _default(f) for f in fields[names.index("pos_enc") + 1:]}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists copied, so the caller may mutate it freely). A family option
        at its default is left out: a default model's dict (model files, checkpoints, ONNX metadata,
        results) stays the one conprune always wrote, which older readers still load."""
        options = self.family_options()
        return {f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in options or getattr(self, f.name) != options[f.name]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformerConfig:
        """Inverse of `to_dict`; unknown or missing keys raise ConpruneError naming them."""
        check_fields(data, cls, "model config")
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - set(data))
        if missing:
            raise ConpruneError(f"model config is missing field(s) {missing}")
        return cls(**{k: _copy(v) for k, v in data.items()})

    @classmethod
    def uniform(cls, d_model: int, num_layers: int, heads: int, ffn_dim: int, conv_channels: int,
                vocab_size: int, **kw: Any) -> ConformerConfig:
        """Same shape in every layer; `head_dim` defaults to d_model // heads."""
        if "head_dim" not in kw:
            if heads < 1 or d_model % heads:
                raise ConpruneError(f"model config field 'heads' ({heads}) must divide d_model "
                                    f"({d_model}) unless head_dim is given")
            kw["head_dim"] = d_model // heads
        return cls(d_model=d_model, num_layers=num_layers, vocab_size=vocab_size,
                   heads=[heads] * num_layers, ffn1_dim=[ffn_dim] * num_layers,
                   ffn2_dim=[ffn_dim] * num_layers, conv_channels=[conv_channels] * num_layers, **kw)

    def replace(self, **changes: Any) -> ConformerConfig:
        """A validated copy with some fields changed (e.g. the per-layer counts after pruning)."""
        return ConformerConfig.from_dict({**self.to_dict(), **changes})


# "conv1d" is LASR's front end (a per-frame Linear, then 1-D convs over time only).
SUBSAMPLING = ("conv2d", "dw_striding", "conv1d")
# Subsampling factor -> strides of the front-end convs. 8x is NeMo's FastConformer (three stride-2
# convs); 6x (stride 2 then 3) sits between, for vocabularies too fine-grained for 12.5 frames/s.
SUBSAMPLING_STRIDES: dict[int, tuple[int, ...]] = {4: (2, 2), 6: (2, 3), 8: (2, 2, 2)}


def subsampled(n: Any, strides: tuple[int, ...], kernel: int = 3, padding: int = 0) -> Any:
    """Frames (or frequency bins) left after convs of this kernel, padding and strides:
    n ↦ ⌊(n + 2·padding − kernel)/s⌋+1 per conv (unpadded 3×3 by default), never negative. Works on
    ints and on integer tensors alike."""
    for s in strides:
        n = (n - kernel) // s + 1 if not padding else (n + 2 * padding - kernel) // s + 1
        n = n.clamp(min=0) if hasattr(n, "clamp") else max(n, 0)
    return n

# NeMo-style size table. Params at vocab 256: tiny 0.26M, demo 4.1M, small 29.3M (NeMo
# Conformer-CTC Medium shape), medium 116.6M (NeMo Large shape). demo uses 64 subsampling
# channels: with 144, the unprunable Conv2d front-end would cost about as many MACs as all the
# blocks together, capping any MACs-sparsity target and slowing CPU training.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"d_model": 64, "num_layers": 2, "heads": 4, "ffn_dim": 128, "conv_channels": 64},
    "demo": {"d_model": 144, "num_layers": 8, "heads": 4, "ffn_dim": 576, "conv_channels": 144,
             "subsampling_channels": 64, "subsampling": "dw_striding"},
    "small": {"d_model": 256, "num_layers": 18, "heads": 4, "ffn_dim": 1024, "conv_channels": 256,
              "conv_kernel": 31},
    "medium": {"d_model": 512, "num_layers": 18, "heads": 8, "ffn_dim": 2048, "conv_channels": 512,
               "conv_kernel": 31},
}


def preset(name: str, vocab_size: int, **overrides: Any) -> ConformerConfig:
    """A named size from `PRESETS`; `overrides` replace any uniform() argument or field."""
    if name not in PRESETS:
        raise ConpruneError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return ConformerConfig.uniform(vocab_size=vocab_size, **{**PRESETS[name], **overrides})


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
    for key in PER_LAYER:
        value = fields[key]
        if isinstance(value, int):
            fields[key] = [value] * layers
        elif len(value) != layers and key not in overrides:
            fields[key] = [value[0]] * layers
    return ConformerConfig.from_dict(fields)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConpruneError(f"model config field '{name}' must be an int >= {minimum}, got {value!r}")


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _copy(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value
