"""Hardware-aligned widths: with `gates.align`, the deterministic gates keep multiples of it of FFN
units and conv channels (heads and modules untouched), the nearest multiple to what the gates pay
for, and the compact model has exactly those widths."""

from __future__ import annotations

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.pruning.compact import compact
from conprune.pruning.gates import ConformerGates, GateConfig

CONFIG = ConformerConfig.uniform(d_model=32, num_layers=2, heads=4, head_dim=8, ffn_dim=64, conv_channels=48,
                                 vocab_size=11, conv_kernel=5, subsampling_channels=8)


def test_aligned_counts_and_compact_widths() -> None:
    torch.manual_seed(0)
    gates = ConformerGates(CONFIG, GateConfig(align=8))
    plain = ConformerGates(CONFIG, GateConfig())
    plain.load_state_dict(gates.state_dict())
    with torch.no_grad():
        for key in gates:
            gates[key].log_alpha.normal_(0.0, 2.0)
            plain[key].log_alpha.copy_(gates[key].log_alpha)
    aligned, counts = gates.kept_counts(), plain.kept_counts()
    for key, k in aligned.items():
        if key.endswith(("units", "channels")):
            assert k % 8 == 0 and abs(k - counts[key]) <= 4 and (k > 0) == (counts[key] > 0)
        else:
            assert k == counts[key]
    model = ConformerCTC(CONFIG).eval()
    small = compact(model, gates.deterministic())
    assert all(n % 8 == 0 for n in small.config.ffn1_dim + small.config.ffn2_dim + small.config.conv_channels)
    with pytest.raises(ConpruneError, match="'align' must be an int >= 1"):
        GateConfig(align=0)


def test_command_line_strings_read_as_yaml_scalars() -> None:
    """`--model.init_args.gates.align 16` reaches the free-form `gates` mapping as '16'."""
    config = GateConfig.from_dict({"align": "16", "ffn_units": "false", "init_keep_heads": "0.9"})
    assert (config.align, config.ffn_units, config.init_keep_heads) == (16, False, 0.9)
    with pytest.raises(ConpruneError, match="'align' must be an int >= 1"):
        GateConfig.from_dict({"align": "sixteen"})
    with pytest.raises(ConpruneError, match="'align' must be an int >= 1"):
        GateConfig.from_dict({"align": "[16"})
