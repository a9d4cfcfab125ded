"""The gate-key layout of a Conformer-CTC: which structures can be gated, under which key, of what shape.

`ConformerCTC.forward(gates=...)`, the learned gates (`conprune.pruning.gates`), the cost model
and compaction all address a structure by its key ("layers.3.ffn2.units", "layers.3.ffn2.module",
"hidden"), so the layout is derived from the config here and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conprune.models.config import ConformerConfig

# Block module -> (its per-layer count field in ConformerConfig, the gate suffix of its units), in
# forward order (½FFN, MHSA, conv, ½FFN): the cost model sums its terms in this order.
MODULES = {"ffn1": ("ffn1_dim", "units"), "mhsa": ("heads", "heads"),
           "conv": ("conv_channels", "channels"), "ffn2": ("ffn2_dim", "units")}
# The order of a layer's keys in `gate_shapes`. Learned gates are created in this order, so their
# parameters, optimizer state and noise draws follow it: changing it changes every pruning run.
KEY_ORDER = ("mhsa", "ffn1", "conv", "ffn2")


def unit_key(layer: int, module: str) -> str:
    """The key of a module's unit gates, e.g. (3, "ffn2") -> "layers.3.ffn2.units"."""
    return f"layers.{layer}.{module}.{MODULES[module][1]}"


def module_key(layer: int, module: str) -> str:
    """The key of a whole module's gate, e.g. (3, "ffn2") -> "layers.3.ffn2.module"."""
    return f"layers.{layer}.{module}.module"


def module_key_of(key: str) -> str:
    """The whole-module key of a unit key: "layers.3.ffn2.units" -> "layers.3.ffn2.module"."""
    return key.rsplit(".", 1)[0] + ".module"


def gate_shapes(config: ConformerConfig) -> dict[str, tuple[int, ...]]:
    """Every gate key a model of `config` accepts and its shape; () is a scalar module gate.

    "hidden" [d_model]; per layer and present module, its unit gates [count] and its module gate.
    A module with count 0 is absent and has no keys.
    """
    shapes: dict[str, tuple[int, ...]] = {"hidden": (config.d_model,)}
    for i in range(config.num_layers):
        for name in KEY_ORDER:
            count = getattr(config, MODULES[name][0])[i]
            if count:
                shapes[unit_key(i, name)] = (count,)
                shapes[module_key(i, name)] = ()
    return shapes
