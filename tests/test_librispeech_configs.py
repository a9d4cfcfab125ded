"""The real-LibriSpeech recipe overlays parse into complete configs for every stage."""

from pathlib import Path

import pytest
import yaml

from conprune.cli import main

EXP = Path(__file__).resolve().parents[1] / "experiments"
STAGES = [("teacher.yaml", "librispeech/teacher.yaml", "ls/teacher"),
          ("prune.yaml", "librispeech/prune.yaml", "ls/prune"),
          ("finetune.yaml", "librispeech/finetune.yaml", "ls/finetune")]


def _printed(capsys, *configs: str) -> dict:
    args = ["fit"] + [a for c in configs for a in ("--config", str(EXP / c))] + ["--print_config"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("base,overlay,run", STAGES)
def test_librispeech_overlay_parses(capsys, base, overlay, run):
    config = _printed(capsys, base, overlay)
    trainer, data = config["trainer"], config["data"]
    assert trainer["strategy"] == "ddp" and trainer["precision"] == "bf16-mixed"
    assert trainer["default_root_dir"] == f"runs/{run}"
    assert data["train_splits"] == ["train-960"] and data["num_pieces"] == 1024
    assert not data["cache_features"]


def test_100h_overlay(capsys):
    config = _printed(capsys, "teacher.yaml", "librispeech/teacher.yaml", "librispeech/train_100h.yaml")
    assert config["data"]["train_splits"] == ["train-clean-100"]
    assert config["data"]["num_pieces"] == 256
    assert config["model"]["init_args"]["preset"] == "small"
    assert config["model"]["init_args"]["model_overrides"] == {"dropout": 0.1, "attn_dropout": 0.1}
