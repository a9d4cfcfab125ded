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


def test_gates_group_is_typed_on_the_command_line(capsys) -> None:
    """`gates` is a dataclass group like the others, so LightningCLI types command-line values:
    `--model.init_args.gates.align 16` arrives as the int 16, and a word is refused in one line."""
    import yaml

    from conprune.cli import main

    argv = ["fit", "--config", "experiments/prune.yaml", "--model.init_args.gates.align", "16",
            "--model.init_args.gates.ffn_units", "false", "--model.init_args.gates.init_keep_heads", "0.9"]
    with pytest.raises(SystemExit) as done:
        main([*argv, "--print_config"])
    assert done.value.code in (0, None)
    gates = yaml.safe_load(capsys.readouterr().out)["model"]["init_args"]["gates"]
    assert (gates["align"], gates["ffn_units"], gates["init_keep_heads"]) == (16, False, 0.9)
    with pytest.raises(SystemExit) as refused:
        main([*argv[:4], "sixteen", "--print_config"])
    assert refused.value.code == 2 and "gates.align" in capsys.readouterr().err
