"""All Hard Concrete gate groups of one Conformer-CTC model, keyed exactly like the model's gates.

The model takes `gates=` as a plain mapping (see `ConformerCTC.forward` / `gate_shapes()`), so
this module is the only place that knows gates are learned: it owns one `HardConcrete` per key
of the enabled groups and returns tensors in the model's key format. A group switched off has no
gate at all, so the model treats it as always on and the cost model counts it as dense.

Groups: `heads`, `mhsa` (whole module), `ffn_units`, `ffn` (whole ffn1/ffn2 modules),
`conv_channels`, `conv` (whole module) and `hidden` (model width; off by default because the
block LayerNorms make it inexact, see conformer.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from conprune.errors import ConpruneError, check_fields
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.gate_keys import gate_shapes
from conprune.pruning.hardconcrete import BETA, STRETCH, HardConcrete, check_hard_concrete_args

GROUPS = ("heads", "mhsa", "ffn_units", "ffn", "conv_channels", "conv", "hidden")

# log α = 0 at the default β and stretch: CoFi/DPHuBERT's "drop rate 0.5" FFN init, which is
# P(z≠0) = sigmoid(β·log(r/−l)) ≈ 0.83 and a median gate of 0.5, not P(z≠0) = 0.5.
FFN_UNIT_KEEP = 1.0 / (1.0 + math.exp(BETA * math.log(-STRETCH[0] / STRETCH[1])))


# Groups whose kept counts `align` rounds (heads are few and whole; modules are 0 or 1).
ALIGNED = ("ffn_units", "conv_channels")


@dataclass
class GateConfig:
    """Which gate groups exist and how they start; `init_keep_*` are keep-probabilities P(z≠0).

    `align` (e.g. 8 or 16): the deterministic gates keep multiples of it of FFN units and conv
    channels, widths that vectorised kernels and ONNX Runtime run without ragged tails.
    Whole modules, heads and conv channels start near certain keep (0.99, DPHuBERT's drop rate
    0.01) so the student starts as the teacher; FFN units start softer (log α = 0, see
    `FFN_UNIT_KEEP`) because FFNs hold most parameters and are where CoFi/DPHuBERT prune first.
    """

    heads: bool = True
    mhsa: bool = True
    ffn_units: bool = True
    ffn: bool = True
    conv_channels: bool = True
    conv: bool = True
    hidden: bool = False
    init_keep_heads: float = 0.99
    init_keep_modules: float = 0.99
    init_keep_ffn_units: float = FFN_UNIT_KEEP
    init_keep_conv_channels: float = 0.99
    init_keep_hidden: float = 0.99
    init_std: float = 0.01
    beta: float = BETA
    align: int = 1
    stretch_left: float = STRETCH[0]
    stretch_right: float = STRETCH[1]

    def __post_init__(self) -> None:
        check_hard_concrete_args(0.5, self.beta, self.stretch, where="pruning gates:")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in GROUPS:
                if not isinstance(value, bool):
                    raise ConpruneError(f"pruning gates field '{f.name}' must be true or false, "
                                        f"got {value!r}")
            elif f.name.startswith("init_keep_"):
                check_hard_concrete_args(value, self.beta, self.stretch,
                                         where=f"pruning gates field '{f.name}':")
        std = self.init_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
            raise ConpruneError(f"pruning gates field 'init_std' must be a float >= 0, got {self.init_std!r}")
        if isinstance(self.align, bool) or not isinstance(self.align, int) or self.align < 1:
            raise ConpruneError(f"pruning gates field 'align' must be an int >= 1 (e.g. 8), got {self.align!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GateConfig:
        """Build from a plain mapping (a checkpoint's `gates` hyperparameters); unknown keys raise
        ConpruneError."""
        data = dict(data or {})
        check_fields(data, cls, "pruning gates")
        return cls(**data)

    @property
    def stretch(self) -> tuple[float, float]:
        """(l, r) of the stretched distribution."""
        return (self.stretch_left, self.stretch_right)

    def init_keep(self, group: str) -> float:
        """Initial keep-probability for a group name from `GROUPS`."""
        if group in ("mhsa", "ffn", "conv"):
            return self.init_keep_modules
        return getattr(self, f"init_keep_{group}")


def gate_group(key: str) -> str:
    """The group (one of `GROUPS`) a model gate key belongs to, e.g. 'layers.3.ffn2.units' -> 'ffn_units'."""
    if key == "hidden":
        return "hidden"
    parts = key.split(".")
    if len(parts) != 4 or parts[0] != "layers":
        raise ConpruneError(f"unknown gate key {key!r}; expected 'hidden' or 'layers.<l>.<module>.<unit>'")
    module, unit = parts[2], parts[3]
    kind = "ffn" if module in ("ffn1", "ffn2") else module
    if unit == "module" and kind in ("mhsa", "ffn", "conv"):
        return kind
    group = {"heads": "heads", "units": "ffn_units", "channels": "conv_channels"}.get(unit)
    if group is None or {"heads": "mhsa", "ffn_units": "ffn", "conv_channels": "conv"}[group] != kind:
        raise ConpruneError(f"unknown gate key {key!r}; see ConformerCTC.gate_shapes()")
    return group


def _slot(key: str) -> str:
    """ModuleDict names cannot contain '.', so model keys are stored with '__' instead."""
    return key.replace(".", "__")


class ConformerGates(nn.Module):
    """One HardConcrete per model gate key of the enabled groups; outputs use the model's keys.

    `forward()` samples in training mode and is deterministic in eval mode, so putting this
    module inside the LightningModule makes `model(x, lengths, gates=gates())` do the right thing
    in both phases. Module gates come out as scalars (shape ()), unit gates as [n].
    """

    def __init__(self, model: ConformerCTC | ConformerConfig, config: GateConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else GateConfig()
        if isinstance(model, (ConformerCTC, ConformerConfig)):
            all_shapes = gate_shapes(model if isinstance(model, ConformerConfig) else model.config)
        else:
            raise ConpruneError(f"ConformerGates needs a ConformerCTC or ConformerConfig, "
                                f"got {type(model).__name__}")
        cfg = self.config
        self._shapes = {k: s for k, s in all_shapes.items() if getattr(cfg, gate_group(k))}
        self.gates = nn.ModuleDict({
            _slot(key): HardConcrete(max(1, math.prod(shape)), init_keep=cfg.init_keep(gate_group(key)),
                                     init_std=cfg.init_std, beta=cfg.beta, stretch=cfg.stretch,
                                     align=cfg.align if gate_group(key) in ALIGNED else 1)
            for key, shape in self._shapes.items()})
        # Subtracted from log α when the deterministic gates count their kept units (see
        # `HardConcrete.kept_count`); 0 unless the prune stage snapped the cut to its target.
        self.register_buffer("count_offset", torch.zeros(()))

    def keys(self) -> list[str]:
        """Gate keys in the model's format, in `gate_shapes()` order."""
        return list(self._shapes)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Model gate key -> shape the model expects (() for module gates)."""
        return dict(self._shapes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)

    def __contains__(self, key: object) -> bool:
        return key in self._shapes

    def __getitem__(self, key: str) -> HardConcrete:
        """The HardConcrete behind a model gate key (e.g. for per-structure targets or compaction)."""
        if key not in self._shapes:
            raise KeyError(f"no gate {key!r} (group off, module absent, or typo); see keys()")
        return self.gates[_slot(key)]  # type: ignore[return-value]

    def _collect(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        return {key: values[key].reshape(shape) for key, shape in self._shapes.items()}

    def forward(self) -> dict[str, Tensor]:
        """Gate values for `ConformerCTC.forward(gates=...)`: sampled (train) or deterministic (eval)."""
        return self._collect({key: self[key]() for key in self._shapes})

    def keep_probs(self) -> dict[str, Tensor]:
        """P(z≠0) per key, differentiable in log α; same keys and shapes as `forward()`."""
        return self._collect({key: self[key].keep_prob() for key in self._shapes})

    def deterministic(self, offset: float | None = None) -> dict[str, Tensor]:
        """Eval gates regardless of mode: top-k by log α, kept values > 0, others exactly 0.

        `offset`: the count offset to use instead of the stored `count_offset`."""
        off = float(self.count_offset) if offset is None else float(offset)
        return self._collect({key: self[key].deterministic(off) for key in self._shapes})

    def kept_counts(self) -> dict[str, int]:
        """Units kept by `deterministic()` per key (0 or 1 for module gates)."""
        off = float(self.count_offset)
        return {key: self[key].kept_count(off) for key in self._shapes}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        """Checkpoints written before the count offset existed load with offset 0."""
        state_dict.setdefault(prefix + "count_offset", torch.zeros(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def log_alpha_parameters(self) -> list[nn.Parameter]:
        """All log α parameters, for their own optimizer group (own LR, no weight decay)."""
        return [hc.log_alpha for hc in self.gates.values()]  # type: ignore[union-attr]
