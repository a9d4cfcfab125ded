"""Compaction must be exact (the compact model is the deterministically gated one), its analytic
cost must match the real model, and the standalone model file must load with torch alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import conprune
from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model
from conprune.pruning.compact import compact, compact_state
from conprune.pruning.cost import count_macs, count_params
from conprune.pruning.gates import ConformerGates, GateConfig
from conprune.stages.checkpoint_io import save_ctc_checkpoint, save_prune_checkpoint
from conprune.stages.export import compact_command

ATOL = 1e-4
LENGTHS = (97, 60, 41)
BASE = {"d_model": 32, "num_layers": 4, "vocab_size": 13, "head_dim": 8, "heads": [4, 2, 3, 4],
        "ffn1_dim": [24, 16, 0, 20], "ffn2_dim": [16, 24, 12, 8], "conv_channels": [12, 8, 16, 0],
        "input_dim": 40, "conv_kernel": 5, "subsampling_channels": 8, "dropout": 0.0, "attn_dropout": 0.0}
LASR = {"subsampling": "conv1d", "subsampling_kernel": 5, "ffn_residual": [1.5, 0.5], "conv_residual": [2.0, 1.0],
        "final_norm": True, "conv_kernel": 6, "conv_padding": "same", "norm_eps": 1e-6}
CONFIGS = {
    "batchnorm-rope": ConformerConfig(**BASE),
    "layernorm-abs-dw": ConformerConfig(**BASE, conv_norm="layernorm", pos_enc="abs", subsampling="dw_striding"),
    "batchnorm-none": ConformerConfig(**BASE, pos_enc="none"),
    # Parakeet-like: rel_xl heads carry linear_pos rows and pos_bias_u/v rows; no linear/conv biases
    "parakeet-like": ConformerConfig(**BASE, pos_enc="rel_xl", subsampling="dw_striding", subsampling_factor=8,
                                     subsampling_padded=True, input_scale=32 ** 0.5, attn_bias=False,
                                     ffn_bias=False, conv_bias=False),
    "lasr-like": ConformerConfig(**{**BASE, **LASR}, attn_bias=False, ffn_bias=False, conv_bias=False,
                                 norm_bias=False),
    # residual weights and input scaling with biases: a removed module's bias moves to the last
    # writer divided by the weights applied since
    "residual-weights-biased": ConformerConfig(**{**BASE, **LASR}, pos_enc="rel_xl", input_scale=3.0),
}
# Every module kind removed once by its module gate (0) and once by all units 0 with the module
# gate on, which leaves a bias-only output that compaction moves to the previous writer.
REMOVALS = {"layers.0.mhsa.module": 0.0, "layers.0.ffn1.units": 0.0, "layers.1.ffn2.module": 0.0,
            "layers.1.conv.channels": 0.0, "layers.2.conv.module": 0.0, "layers.2.mhsa.heads": 0.0,
            "layers.3.ffn1.module": 0.0, "layers.3.ffn2.units": 0.0}
# What the stage checkpoints below carry beside the weights (the export copies it to the model file).
TOKENIZER, CMVN = b"spm", {"mean": [0.0] * 40, "std": [1.0] * 40}


def dense_model(cfg: ConformerConfig, seed: int = 0) -> ConformerCTC:
    """Random weights with non-trivial norms and BatchNorm running stats (eval uses them)."""
    torch.manual_seed(seed)
    model = ConformerCTC(cfg)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.normal_()
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
    for name, p in model.named_parameters():
        if "norm" in name or name.endswith("bias") or "pos_bias" in name:
            p.data.normal_(1.0 if "norm" in name and name.endswith("weight") else 0.0, 0.3)
    return model.eval()


def random_gates(model: ConformerCTC, seed: int, whole_conv_only: bool) -> dict[str, torch.Tensor]:
    """Deterministic-style gates: random masks, kept values in (0, 1]; `whole_conv_only` keeps every
    conv channel (soft) because a channel LayerNorm cannot lose some channels exactly."""
    g = torch.Generator().manual_seed(seed)
    gates = {}
    for key, shape in model.gate_shapes().items():
        if key == "hidden":
            continue
        values = 0.05 + 0.95 * torch.rand(shape, generator=g)
        if shape and not (whole_conv_only and key.endswith("conv.channels")):
            values = values * (torch.rand(shape, generator=g) < 0.6)
        gates[key] = values
    for key, value in REMOVALS.items():
        gates[key] = torch.full_like(gates[key], value)
    return gates


def features(cfg: ConformerConfig, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(LENGTHS), max(LENGTHS), cfg.input_dim, generator=g)
    for i, n in enumerate(LENGTHS):
        x[i, n:] = 0.0
    return x, torch.tensor(LENGTHS)


def assert_same_valid(a, b) -> None:
    """Equal log-probs on every valid output frame (padded frames are never read downstream)."""
    assert torch.equal(a.lengths, b.lengths)
    for i, n in enumerate(a.lengths.tolist()):
        diff = (a.log_probs[i, :n] - b.log_probs[i, :n]).abs().max().item()
        assert diff < ATOL, f"utterance {i}: max abs diff {diff}"


@pytest.mark.parametrize("name", CONFIGS)
def test_compact_equals_gated_random_gates(name: str) -> None:
    cfg = CONFIGS[name]
    model = dense_model(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gates = random_gates(model, seed=1, whole_conv_only=cfg.conv_norm == "layernorm")
    small = compact(model, gates)
    new = small.config
    assert new.heads[0] == 0 and new.ffn1_dim[0] == 0 and new.ffn2_dim[1] == 0 and new.conv_channels[1] == 0
    assert new.conv_channels[2] == 0 and new.heads[2] == 0 and new.ffn1_dim[3] == 0 and new.ffn2_dim[3] == 0
    assert small.layers[0].mhsa is None and small.layers[2].conv is None
    assert count_params(new) < count_params(cfg)
    x, lengths = features(cfg)
    with torch.no_grad():
        assert_same_valid(small(x, lengths), model(x, lengths, gates=gates))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # input untouched


@pytest.mark.parametrize("name", CONFIGS)
def test_compact_equals_gated_hard_concrete(name: str) -> None:
    cfg = CONFIGS[name]
    model = dense_model(cfg, seed=2)
    hc = ConformerGates(model, GateConfig(conv_channels=cfg.conv_norm != "layernorm"))
    torch.manual_seed(3)
    with torch.no_grad():
        for key in hc:
            hc[key].log_alpha.normal_(1.0, 3.0)
        hc["layers.0.conv.module"].log_alpha.fill_(-10.0)
        hc["layers.1.ffn1.units"].log_alpha.fill_(-10.0)  # module kept, every unit dropped
        hc["layers.1.ffn1.module"].log_alpha.fill_(1.0)
    gates = hc.deterministic()
    assert float(gates["layers.1.ffn1.module"]) > 0 and (gates["layers.1.ffn1.units"] == 0).all()
    small = compact(model, gates)
    assert small.config.conv_channels[0] == 0 and small.config.ffn1_dim[1] == 0
    for key, count in hc.kept_counts().items():
        layer, module, unit = key.split(".")[1:]
        if unit != "module" and int(gates[key.replace(unit, "module")]) != 0:
            field = {"heads": "heads", "channels": "conv_channels"}.get(unit, f"{module}_dim")
            assert getattr(small.config, field)[int(layer)] == count, key
    x, lengths = features(cfg, seed=4)
    with torch.no_grad():
        assert_same_valid(small(x, lengths), model(x, lengths, gates=gates))


@pytest.mark.parametrize("name", CONFIGS)
def test_compact_cost_matches_model(name: str) -> None:
    cfg = CONFIGS[name]
    model = dense_model(cfg)
    small = compact(model, random_gates(model, seed=5, whole_conv_only=cfg.conv_norm == "layernorm"))
    assert count_params(small.config) == sum(p.numel() for p in small.parameters())
    frames = 300
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        small(torch.randn(1, frames, cfg.input_dim), torch.tensor([frames]))
    assert count_macs(small.config, frames) == pytest.approx(counter.get_total_flops() / 2, rel=0.01)


def test_layernorm_partial_channels_refused_unless_allowed() -> None:
    cfg = CONFIGS["layernorm-abs-dw"]
    model = dense_model(cfg)
    gates = {"layers.0.conv.channels": torch.tensor([1.0] * 6 + [0.0] * 6)}
    with pytest.raises(ConpruneError, match="layer 0: slicing 6 of 12 conv channels.*allow_inexact"):
        compact(model, gates)
    config, state = compact_state(model, gates, allow_inexact=True)
    assert config.conv_channels[0] == 6 and state["layers.0.conv.dw_norm.weight"].shape == (6,)


def test_bad_gates_refused() -> None:
    model = dense_model(CONFIGS["batchnorm-rope"])
    with pytest.raises(ConpruneError, match="hidden"):
        compact(model, {"hidden": torch.full((32,), 0.5)})
    with pytest.raises(ConpruneError, match="non-finite"):
        compact(model, {"layers.0.mhsa.module": torch.tensor(float("nan"))})
    with pytest.raises(ConpruneError, match="unknown gate"):
        compact(model, {"layers.3.conv.channels": torch.ones(4)})


def test_bias_without_a_writer_refused() -> None:
    """Bias-free LayerNorms with biased linears: a module pruned to no units (gate on) right after a
    block's output norm leaves its output bias nowhere to go."""
    model = dense_model(ConformerConfig(**BASE, norm_bias=False))
    with pytest.raises(ConpruneError, match="cannot remove layers.1.ffn1: .*drop the module with its module gate"):
        compact(model, {"layers.1.ffn1.units": torch.zeros(16)})
    assert compact(model, {"layers.1.ffn1.module": torch.tensor(0.0)}).config.ffn1_dim[1] == 0


def test_save_load_round_trip_and_fresh_process(tmp_path) -> None:
    cfg = CONFIGS["batchnorm-rope"]
    model = dense_model(cfg)
    small = compact(model, random_gates(model, seed=6, whole_conv_only=False))
    path = tmp_path / "sub" / "model.pt"
    cmvn = {"mean": torch.linspace(-1, 1, cfg.input_dim), "std": [2.0] * cfg.input_dim}
    save_model(path, small, b"\x00proto", cmvn, {"stage": "prune", "params": 5})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    loaded, info = conprune.load_model(path)
    assert info["tokenizer"] == b"\x00proto" and info["meta"] == {"stage": "prune", "params": 5}
    assert info["cmvn"]["std"] == [2.0] * cfg.input_dim and len(info["cmvn"]["mean"]) == cfg.input_dim
    assert loaded.config == small.config and not loaded.training
    x, lengths = features(cfg, seed=7)
    with torch.no_grad():
        want = small(x, lengths).log_probs
        assert torch.equal(loaded(x, lengths).log_probs, want)
    torch.save({"x": x, "lengths": lengths}, tmp_path / "inputs.pt")
    code = (
        "import sys, torch\n"
        "path, inputs, out = sys.argv[1:]\n"
        "raw = torch.load(path, weights_only=True)\n"
        "assert raw['format'] == 'conprune-model' and raw['version'] == 1\n"
        "import conprune\n"
        "model, info = conprune.load_model(path)\n"
        "batch = torch.load(inputs, weights_only=True)\n"
        "with torch.no_grad():\n"
        "    torch.save(model(batch['x'], batch['lengths']).log_probs, out)\n"
        "assert not any(m.split('.')[0] in ('lightning', 'pytorch_lightning') for m in sys.modules)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "inputs.pt"), str(tmp_path / "out.pt")],
                   check=True, env=env, timeout=120)
    assert torch.equal(torch.load(tmp_path / "out.pt", weights_only=True), want)


def test_load_refuses_foreign_and_newer_files(tmp_path) -> None:
    with pytest.raises(ConpruneError, match="not found.*conprune compact"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ConpruneError, match="cannot load model file .*junk.pt"):
        load_model(tmp_path / "junk.pt")
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "other.pt")
    with pytest.raises(ConpruneError, match="other.pt is not a conprune model file"):
        load_model(tmp_path / "other.pt")
    save_model(tmp_path / "m.pt", dense_model(CONFIGS["batchnorm-none"]))
    package = torch.load(tmp_path / "m.pt", weights_only=True)
    torch.save({**package, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(ConpruneError, match="future.pt has format version 99.*upgrade conprune"):
        load_model(tmp_path / "future.pt")
    with pytest.raises(ConpruneError, match="plain values"):
        save_model(tmp_path / "bad.pt", dense_model(CONFIGS["batchnorm-none"]), extra={"obj": object()})


def test_compact_checkpoint_matches_deterministic_student(tmp_path) -> None:
    cfg = CONFIGS["batchnorm-rope"]
    model = dense_model(cfg, seed=8)
    gate_hparams = {"beta": 0.5, "hidden": False, "conv": False}
    hc = ConformerGates(model, GateConfig.from_dict(gate_hparams))
    torch.manual_seed(9)
    with torch.no_grad():
        for key in hc:
            hc[key].log_alpha.normal_(0.5, 2.0)
    # Group switches come from the stored keys; a real checkpoint also holds the multipliers.
    save_prune_checkpoint(tmp_path / "prune.ckpt", model, hc, TOKENIZER, CMVN, {"beta": 0.5},
                          {"lagrangian.lambda1": torch.tensor(0.3)})
    summary = compact_command(str(tmp_path / "prune.ckpt"), str(tmp_path / "model.pt"))
    loaded, info = load_model(tmp_path / "model.pt")
    assert summary["compacted"] and summary["params"] == loaded.count_params() < summary["dense_params"]
    assert summary["kept"]["heads"] == loaded.config.heads and info["meta"]["stage"] == "prune"
    assert info["tokenizer"] == b"spm" and info["meta"]["dense_params"] == count_params(cfg)
    x, lengths = features(cfg, seed=10)
    with torch.no_grad():
        assert_same_valid(loaded(x, lengths), model(x, lengths, gates=hc.deterministic()))

    save_ctc_checkpoint(tmp_path / "teacher.ckpt", model, TOKENIZER, CMVN)
    summary = compact_command(str(tmp_path / "teacher.ckpt"), str(tmp_path / "dense.pt"))
    dense, info = load_model(tmp_path / "dense.pt")
    assert not summary["compacted"] and summary["params"] == summary["dense_params"]
    assert info["meta"]["stage"] == "teacher"
    with torch.no_grad():
        assert torch.equal(dense(x, lengths).log_probs, model(x, lengths).log_probs)
