"""Stage configs parse into complete configs: every stage reads the shared experiments/data.yaml
(the feature settings later stages check against the teacher), and the real-LibriSpeech recipe
overlays apply on top."""

from pathlib import Path

import pytest
import yaml

from conprune.cli import main

EXP = Path(__file__).resolve().parents[1] / "experiments"
STAGES = [("teacher.yaml", "librispeech/teacher.yaml", "ls/teacher"),
          ("prune.yaml", "librispeech/prune.yaml", "ls/prune"),
          ("finetune.yaml", "librispeech/finetune.yaml", "ls/finetune")]


def _printed(capsys, *configs: str) -> dict:
    """The resolved config of `conprune fit`: each `.yaml` is a `--config`, anything else passes as is."""
    args = ["fit"] + [a for c in configs for a in (("--config", str(EXP / c)) if c.endswith(".yaml") else (c,))]
    args += ["--print_config"]
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
    assert not data["batching"]["cache_features"]


@pytest.mark.parametrize("stage", ["prune", "finetune"])
def test_parakeet_06b_recipe_parses(capsys, stage):
    """The 0.6 B recipe keeps the LibriSpeech recipe (8 GPUs, DDP, bf16) and the imported teacher's
    data settings (its tokenizer.json, 1024 pieces, its own front end without conprune's extras)."""
    config = _printed(capsys, f"{stage}.yaml", f"hf/parakeet-ctc-0.6b/{stage}.yaml")
    trainer, data, model = config["trainer"], config["data"], config["model"]["init_args"]
    assert trainer["strategy"] == "ddp" and trainer["devices"] == 8 and trainer["precision"] == "bf16-mixed"
    assert data["train_splits"] == ["train-960"] and data["num_pieces"] == 1024
    assert data["tokenizer"].endswith("teacher.tokenizer.json") and model["teacher_ckpt"] == "runs/hf/parakeet/teacher.pt"
    assert data["front_end"]["kind"] == "parakeet" and data["front_end"]["lifter"] == 0
    assert not data["front_end"]["utterance_cmn"] and config["run_dir"] == f"runs/hf/parakeet-0.6b/{stage}"
    assert model["distill"]["layer_every"] == 4


def test_100h_overlay(capsys):
    config = _printed(capsys, "teacher.yaml", "librispeech/teacher.yaml", "librispeech/train_100h.yaml")
    assert config["data"]["train_splits"] == ["train-clean-100"]
    assert config["data"]["num_pieces"] == 256
    assert config["model"]["init_args"]["preset"] == "small"
    assert config["model"]["init_args"]["model_overrides"] == {"dropout": 0.1, "attn_dropout": 0.1}


def _within(printed: dict, given: dict) -> dict:
    """The part of `printed` (a whole resolved block) that `given` (a YAML block) names, group by group."""
    return {k: _within(printed[k], v) if isinstance(v, dict) else printed[k] for k, v in given.items()}


@pytest.mark.parametrize("stage, own", [("teacher.yaml", {"speed_perturb": [0.9, 1.0, 1.1]}),
                                        ("prune.yaml", {}), ("finetune.yaml", {})])
def test_stage_reads_the_shared_data_block(capsys, stage, own):
    """A stage's own `augment:` keys are merged into the shared group key by key, not replacing it."""
    expected = yaml.safe_load((EXP / "data.yaml").read_text())["data"]
    expected["augment"] = {**expected["augment"], **own}
    data = _printed(capsys, stage)["data"]
    assert _within(data, expected) == expected


def test_data_groups_on_the_command_line(capsys):
    """`--data.<group>.<key>` changes one key of a group; the rest keep the configs' values."""
    data = _printed(capsys, "teacher.yaml", "--data.augment.freq_masks", "0",
                    "--data.batching.max_frames", "123", "--data.front_end.lifter", "0")["data"]
    assert data["augment"]["freq_masks"] == 0 and data["augment"]["speed_perturb"] == [0.9, 1.0, 1.1]
    assert data["augment"]["freq_width"] == 10 and data["batching"]["max_frames"] == 123
    assert data["front_end"] == {"kind": "logmel", "lifter": 0, "utterance_cmn": True, "feature_size": None, "n_fft": 512,
                                 "win_length": 400, "hop_length": 160, "preemphasis": None, "cmvn_utterances": 2000}


def test_bases_are_merged_first_and_checked(tmp_path, capsys):
    """`bases:` puts the named configs before the file (relative to it), each once; a missing or
    circular base is one error line naming the file."""
    from conprune.errors import ConpruneError
    from conprune.lit.config_files import expand_bases

    (tmp_path / "a.yaml").write_text("data:\n  num_pieces: 7\n")
    (tmp_path / "b.yaml").write_text("bases: [a.yaml]\ndata:\n  batching: {max_frames: 9}\n")
    (tmp_path / "c.yaml").write_text("bases: [a.yaml, b.yaml]\n")
    a, b, c = (str(tmp_path / f"{n}.yaml") for n in "abc")
    assert expand_bases(["fit", "--config", c, "--x", "1"]) == ["fit", "--config", a, "--config", b, "--config", c,
                                                                 "--x", "1"]
    assert expand_bases([f"--config={b}"]) == ["--config", a, "--config", b]
    (tmp_path / "d.yaml").write_text("bases: [missing.yaml]\n")
    with pytest.raises(ConpruneError, match="d.yaml: base config .*missing.yaml not found"):
        expand_bases(["--config", str(tmp_path / "d.yaml")])
    (tmp_path / "e.yaml").write_text("bases: [e.yaml]\n")
    with pytest.raises(ConpruneError, match="e.yaml: its 'bases' include itself"):
        expand_bases(["--config", str(tmp_path / "e.yaml")])
