"""Expected latency under the gates, from a measured per-structure table (HALP-style).

Params and MACs are proxies; what a deployment pays for is measured time. The table (written by
`conprune bench latency-table` on the target device and thread count) holds the time of one
MHSA, FFN and conv module of the teacher's width as a function of its kept heads / units /
channels, and the fixed rest of the model (front end, norms, CTC head). The expected latency
under gate keep-probabilities is that fixed time plus, per layer and module, P(module present) ×
the table interpolated (piecewise linearly, so differentiably) at the expected unit count. For
0/1 gates this is exactly the table's prediction for the pruned model, as with params and MACs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.gate_keys import MODULES
from conprune.pruning.cost import expected_units

# Block module -> the table's curve (both macaron FFNs share one curve: same shapes).
CURVES = {"ffn1": "ffn", "ffn2": "ffn", "mhsa": "mhsa", "conv": "conv"}
MATCH = ("d_model", "head_dim", "conv_kernel", "conv_norm", "subsampling_factor", "input_dim", "pos_enc",
         "subsampling")


@dataclass
class LatencyTable:
    """Seconds per module of `units` kept units (sorted, the largest is the teacher's count), plus
    `fixed_s` for what pruning never removes; measured at `batch` × `seconds` of audio."""

    device: str
    threads: int
    batch: int
    seconds: float
    fixed_s: float
    curves: dict[str, dict[str, list[float]]]
    shape: dict
    torch_version: str = ""

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatencyTable:
        try:
            data = json.loads(Path(path).read_text())
            table = cls(**data)
        except FileNotFoundError:
            raise ConpruneError(f"latency table {path} not found: measure one with `conprune bench latency-table`") from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConpruneError(f"latency table {path} is not a table written by `conprune bench latency-table` "
                                f"({exc})") from None
        for name in ("mhsa", "ffn", "conv"):
            curve = table.curves.get(name)
            if not curve or len(curve["units"]) != len(curve["seconds"]) or curve["units"] != sorted(curve["units"]):
                raise ConpruneError(f"latency table {path}: curve {name!r} is missing or malformed")
        return table

    def check_fits(self, config: ConformerConfig, where: str) -> None:
        """Refuse a table measured for another model shape or family (its times would not apply);
        a table written before the family options existed was measured at their defaults."""
        options = ConformerConfig.family_options()
        keys = [k for k in MATCH if k in self.shape] + list(options)  # tables before pos_enc/subsampling lack them
        mine = {k: getattr(config, k) for k in keys}
        theirs = {k: self.shape.get(k, options.get(k)) for k in keys}
        if mine != theirs:
            raise ConpruneError(f"{where}: the latency table was measured for {theirs}, this model is {mine}; "
                                "measure a table for this teacher")


def interpolate(curve: dict[str, list[float]], n: Tensor | float) -> Tensor:
    """The curve's seconds at `n` units, linear between measured points (and from 0 to the first)."""
    device = n.device if isinstance(n, Tensor) else None
    units = torch.tensor([0.0, *curve["units"]], dtype=torch.float64, device=device)
    seconds = torch.tensor([curve["seconds"][0], *curve["seconds"]], dtype=torch.float64, device=device)
    n = torch.as_tensor(n, dtype=torch.float64, device=device).clamp(0.0, float(units[-1]))
    i = torch.searchsorted(units, n.detach().reshape(1), right=True).clamp(1, len(units) - 1)[0]
    lo, hi = units[i - 1], units[i]
    weight = (n - lo) / (hi - lo)
    return seconds[i - 1] + weight * (seconds[i] - seconds[i - 1])


def expected_latency(config: ConformerConfig, keep: Mapping[str, Tensor], table: LatencyTable) -> Tensor:
    """Expected seconds of the gated model (see the module docstring); differentiable in `keep`."""
    total: Tensor | float = table.fixed_s
    for layer in expected_units(config, keep, torch.float64):
        for name, (present, _, n) in layer.items():
            total = total + present * interpolate(table.curves[CURVES[name]], n)
    return torch.as_tensor(total, dtype=torch.float64)


def exact_latency(config: ConformerConfig, table: LatencyTable) -> float:
    """The table's prediction for a (pruned) config: every module at its kept count."""
    total = table.fixed_s
    for i in range(config.num_layers):
        for name, (field, _) in MODULES.items():
            count = getattr(config, field)[i]
            if count:
                total += float(interpolate(table.curves[CURVES[name]], count))
    return total
