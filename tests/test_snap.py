"""Snapping the cut to its target: one model-wide count offset on log α, found by bisection on the
exact cost, lands the deterministic cut within tolerance of the target when the gates stopped
short (or overshot), keeps the gates' ranking, and travels with the checkpoint to compaction."""

from __future__ import annotations

import pytest
import torch

from conprune.cli import run_lightning
from conprune.models.config import ConformerConfig
from conprune.pruning.cost import count_params, pruned_config
from conprune.pruning.gates import ConformerGates
from conprune.pruning.snap import snap_offset
from conprune.stages.export import compact_checkpoint

CONFIG = ConformerConfig.uniform(d_model=32, num_layers=3, heads=4, head_dim=8, ffn_dim=64, conv_channels=48,
                                 vocab_size=11, conv_kernel=5, subsampling_channels=8)


def params_sparsity(gates: dict) -> float:
    masks = {k: (v > 0).float() for k, v in gates.items()}
    return 1.0 - count_params(pruned_config(CONFIG, masks)) / count_params(CONFIG)


@pytest.fixture
def gates() -> ConformerGates:
    torch.manual_seed(0)
    out = ConformerGates(CONFIG)
    with torch.no_grad():
        for key in out:
            out[key].log_alpha.normal_(2.0, 2.0)
    return out


@pytest.mark.parametrize("target", [0.3, 0.5, 0.7])
def test_snap_lands_on_the_target_and_keeps_the_ranking(gates, target):
    before = params_sparsity(gates.deterministic())
    offset = snap_offset(gates, params_sparsity, target, tolerance=0.01)
    assert (offset > 0) == (target > before)
    gates.count_offset.fill_(offset)
    gap = abs(params_sparsity(gates.deterministic()) - target)
    grid = min(abs(params_sparsity(gates.deterministic(o / 100)) - target) for o in range(-1600, 1601))
    assert gap <= grid + 1e-9 and gap < 0.015  # the closest cut there is (a tiny model cuts in coarse steps)
    for key, values in gates.deterministic().items():
        kept = values.reshape(-1) > 0
        alphas = gates[key].log_alpha.detach()
        if kept.any() and (~kept).any():  # every kept unit outranks every removed one
            assert alphas[kept].min() >= alphas[~kept].max()


def test_no_snap_within_tolerance_and_counts_never_rise_with_the_offset(gates):
    reached = params_sparsity(gates.deterministic())
    assert snap_offset(gates, params_sparsity, reached + 0.005, tolerance=0.01) == 0.0
    totals = [sum(gates.deterministic(o)[k].count_nonzero().item() for k in gates) for o in (-2.0, 0.0, 1.0, 3.0)]
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]


def test_gates_saved_before_the_offset_existed_still_load(gates):
    state = {k: v for k, v in gates.state_dict().items() if k != "count_offset"}
    fresh = ConformerGates(CONFIG)
    fresh.count_offset.fill_(3.0)
    fresh.load_state_dict(state, strict=True)
    assert float(fresh.count_offset) == 0.0
    assert fresh.kept_counts() == gates.kept_counts()


def test_prune_stage_snaps_a_lagging_cut_and_compaction_follows(tmp_path, stage_args):
    """The gate phase aims at a gentler 0.2 (`target.train_sparsity`); the cut still lands on 0.4."""
    out = tmp_path / "run"
    cli = run_lightning(stage_args(
        "prune", out, "--data.batching.max_frames", "800", "--trainer.max_steps", "4",
        "--trainer.val_check_interval", "4",
        "--model.init_args.target.sparsity", "0.4", "--model.init_args.target.train_sparsity", "0.2",
        "--trainer.callbacks", "[{class_path: conprune.lit.callbacks.SparsityRamp, init_args: {ramp_steps: 2}}]",
        "--trainer.callbacks+", "{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: "
        f"{{dirpath: {out / 'ckpt'}, filename: last}}}}"))
    assert cli.model.sparsity_target == pytest.approx(0.2)
    ckpt = out / "ckpt" / "last.ckpt"
    _, meta = compact_checkpoint(ckpt, tmp_path / "model.pt")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert float(state["gates.count_offset"]) > 0
    assert 1.0 - meta["params"] / meta["dense_params"] == pytest.approx(0.4, abs=0.01)
    dense = ConformerConfig.from_dict(meta["dense_config"])
    unsnapped = ConformerGates(dense)
    unsnapped.load_state_dict({k.removeprefix("gates."): v for k, v in state.items()
                               if k.startswith("gates.") and k != "gates.count_offset"})
    masks = {k: (v > 0).float() for k, v in unsnapped.deterministic().items()}
    assert 1.0 - count_params(pruned_config(dense, masks)) / count_params(dense) < 0.3  # 4 steps fell short
