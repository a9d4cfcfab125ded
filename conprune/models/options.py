"""The family options of a model config (its fields after `pos_enc`: Parakeet's and LASR's
architecture choices, see config.py): their allowed values and checks, kept apart so config.py
stays the map of the model's shape."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from conprune.errors import ConpruneError

if TYPE_CHECKING:
    from conprune.models.config import ConformerConfig

ACTIVATIONS = ("silu", "relu", "gelu")
# "symmetric": k//2 frames each side (odd kernels only); "same": PyTorch's padding="same",
# (k−1)//2 before and k//2 after, which also fits even kernels (LASR's depthwise kernel is 32).
CONV_PADDINGS = ("symmetric", "same")
RESIDUALS = ("ffn_residual", "conv_residual")


def check_options(cfg: ConformerConfig) -> None:
    """Raise ConpruneError naming the first bad family option."""
    for name in ("subsampling_padded", "attn_bias", "ffn_bias", "conv_bias", "norm_bias", "final_norm"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConpruneError(f"model config field '{name}' must be true or false, got {getattr(cfg, name)!r}")
    for name in ("input_scale", "rope_theta", "norm_eps", "bn_eps"):
        check_float(name, getattr(cfg, name), positive=True)
    check_float("bn_momentum", cfg.bn_momentum)
    if not 0.0 <= cfg.bn_momentum <= 1.0:
        raise ConpruneError(f"model config field 'bn_momentum' must be in [0, 1], got {cfg.bn_momentum!r}")
    if cfg.activation not in ACTIVATIONS:
        raise ConpruneError(f"model config field 'activation' must be one of {ACTIVATIONS}, got {cfg.activation!r}")
    for name in RESIDUALS:
        value = getattr(cfg, name)
        if not isinstance(value, list) or len(value) != 2:
            raise ConpruneError(f"model config field '{name}' must be a list [a, b] (x <- a*x + b*module(x)), "
                                f"got {value!r}")
        check_float(f"{name}[0]", value[0], positive=True)
        check_float(f"{name}[1]", value[1])


def check_float(name: str, value: Any, positive: bool = False) -> None:
    """A finite int or float (not a bool), > 0 when `positive`, else ConpruneError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
            (positive and value <= 0):
        raise ConpruneError(f"model config field '{name}' must be a finite number{' > 0' if positive else ''}, "
                            f"got {value!r}")
