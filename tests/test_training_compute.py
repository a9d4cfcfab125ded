"""Equal compute: a rival gets as many steps as make its training cost conprune's, in MACs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from conprune.commands.sweep import plan, sweep_args
from conprune.commands.sweep_budget import trainer_setting
from conprune.errors import ConpruneError
from conprune.models.config import build_config
from conprune.models.conformer import ConformerCTC
from conprune.models.package import save_model
from conprune.pruning.cost_model import CostModel
from conprune.pruning.training_compute import conprune_macs, equal_compute_steps, step_macs
from conprune.stages.methods import GROUPS, METHODS


def test_the_rule_in_numbers() -> None:
    assert step_macs(10.0, 4.0) == 22.0
    assert conprune_macs(10.0, 4.0, gate_steps=250, finetune_steps=60) == 250 * 40 + 60 * 22
    assert equal_compute_steps(10.0, 4.0, 250, 60, rival_macs=4.0) == 515  # ceil(11320 / 22)
    assert equal_compute_steps(10.0, 10.0, 250, 60, rival_macs=10.0) == 310  # no pruning: equal steps
    with pytest.raises(ValueError):
        equal_compute_steps(0.0, 4.0, 250, 60, 4.0)


def test_compute_rivals_are_registered_beside_their_equal_steps_twins() -> None:
    for name in GROUPS["compute"]:
        twin = METHODS[name.removesuffix("_compute")]
        assert METHODS[name].budget == "compute" and twin.budget == "steps"
        assert (METHODS[name].cut, METHODS[name].role) == (twin.cut, twin.role)
    assert not set(GROUPS["compute"]) & set(GROUPS["standard"])


def _save(path: Path, width: int) -> Path:
    torch.manual_seed(0)
    config = build_config("demo", 65, {"num_layers": 2, "d_model": 32, "ffn_dim": width, "conv_channels": 32,
                                       "heads": 2})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, ConformerCTC(config).eval())
    return path


def test_the_sweep_gives_a_compute_rival_the_steps_of_conprunes_compute(tmp_path) -> None:
    teacher = _save(tmp_path / "teacher.pt", 128)
    student = _save(tmp_path / "runs/sweep/prune-params50/model.pt", 32)
    _save(tmp_path / "runs/sweep/baseline-magnitude_shapes-params50/model.pt", 32)
    parser = argparse.ArgumentParser()
    sweep_args(parser)
    args = parser.parse_args(["--teacher", str(teacher), "--runs", str(tmp_path / "runs"), "--profile", "quick"])
    steps = plan(args, ["magnitude_shapes", "magnitude_shapes_compute"], ["params50"], [0])
    fits = {s.done.parent.name: s.argv for s in steps if s.done.name == "DONE"}
    macs = {p: CostModel.from_target("macs").exact(build_config("demo", 65, {"num_layers": 2, "d_model": 32,
            "ffn_dim": w, "conv_channels": 32, "heads": 2})) for p, w in (("t", 128), ("s", 32))}
    gate = trainer_setting(METHODS["conprune"].prune_configs, "quick", "max_steps")
    finetune = trainer_setting(METHODS["conprune"].train_configs, "quick", "max_steps")
    expected = equal_compute_steps(macs["t"], macs["s"], gate, finetune, macs["s"])
    argv = fits["magnitude_shapes_compute-params50"]
    assert int(argv[argv.index("--trainer.max_steps") + 1]) == expected > gate + finetune
    assert "--trainer.max_steps" not in fits["magnitude_shapes-params50"]
    cuts = {s.done for s in steps if s.argv[3] == "baseline"}
    assert cuts == {tmp_path / "runs/sweep/baseline-magnitude_shapes-params50/model.pt"}  # one cut for both


def test_compute_rows_before_the_equal_steps_sweep_are_a_one_line_error(tmp_path) -> None:
    teacher = _save(tmp_path / "teacher.pt", 128)
    parser = argparse.ArgumentParser()
    sweep_args(parser)
    args = parser.parse_args(["--teacher", str(teacher), "--runs", str(tmp_path / "runs"), "--profile", "quick"])
    with pytest.raises(ConpruneError, match="run the equal-steps sweep at this target and seed first"):
        plan(args, ["magnitude_global_compute"], ["params50"], [0])
