"""Teacher training: one-batch overfit, `conprune fit` fast_dev_run and --print_config through the CLI."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from conprune.cli import main, run_lightning
from conprune.lit.ctc_module import ctc_loss
from conprune.lit.optim import warmup_decay
from conprune.models.config import build_config

CONFIG = str(Path(__file__).resolve().parents[1] / "experiments" / "teacher.yaml")


def test_one_batch_overfit(tiny_model):
    """Loss falls by more than half in 100 steps on 4 utterances."""
    model = tiny_model(30)
    feats = torch.randn(4, 200, 80)
    lengths = torch.tensor([200, 180, 160, 150])
    targets = torch.randint(1, 30, (4, 12))
    target_lengths = torch.tensor([12, 10, 9, 8])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        out = model(feats, lengths)
        loss, too_short = ctc_loss(out.log_probs, out.lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert too_short == 0
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])


def test_build_config_overrides():
    cfg = build_config("demo", 257, {"num_layers": 3, "ffn_dim": 100, "heads": [2, 3, 4]})
    assert cfg.num_layers == 3 and cfg.ffn1_dim == [100] * 3 and cfg.ffn2_dim == [100] * 3
    assert cfg.heads == [2, 3, 4] and len(cfg.conv_channels) == 3


def test_schedule_shapes():
    assert warmup_decay(0, 10, 100) == pytest.approx(0.1)
    assert warmup_decay(9, 10, 100) == pytest.approx(1.0)
    assert warmup_decay(100, 10, 100, "cosine", 0.05) == pytest.approx(0.05)
    assert warmup_decay(55, 10, 100, "linear", 0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        warmup_decay(20, 10, 100, "bogus")


def _fit_args(stage_args: Callable[..., list[str]], root: Path, out: Path) -> list[str]:
    return stage_args("teacher", out, "--data.batching.num_workers", "0", "--trainer.callbacks", "[]",
                      "--trainer.enable_checkpointing", "false", root=root)


def test_fit_fast_dev_run(tmp_path, corpus_copy, stage_args):
    root = corpus_copy
    cli = run_lightning(_fit_args(stage_args, root, tmp_path / "run") + ["--trainer.fast_dev_run", "true"])
    assert cli.model.config.vocab_size == 41  # linked from data.num_pieces + blank
    assert (root / "manifests" / "train-clean-100.jsonl").is_file()
    assert (root / "tokenizer" / "unigram40.model").is_file()
    assert list((root / "manifests").glob("cmvn-*.json"))


def test_print_config_is_complete(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", CONFIG, "--print_config"])
    assert exc.value.code == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["class_path"].endswith("TeacherModule")
    assert cfg["data"]["root"] and cfg["trainer"]["max_steps"] > 0
    assert cfg["trainer"]["use_distributed_sampler"] is False


def test_missing_root_is_one_line_error(tmp_path, capsys, stage_args):
    with pytest.raises(SystemExit) as exc:
        main([*_fit_args(stage_args, tmp_path / "nowhere", tmp_path / "run"),
              "--trainer.fast_dev_run", "true"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "nowhere" in err[-1]


def test_inter_ctc_adds_a_middle_layer_loss():
    from conprune.lit.teacher import TeacherModule

    torch.manual_seed(0)
    batch = {"features": torch.randn(2, 120, 80), "lengths": torch.tensor([120, 100]),
             "targets": torch.randint(1, 30, (2, 6)), "target_lengths": torch.tensor([6, 5]), "ids": ["a", "b"]}
    plain = TeacherModule(preset="tiny", vocab_size=30)
    inter = TeacherModule(preset="tiny", vocab_size=30, inter_ctc_weight=0.3)
    inter.load_state_dict(plain.state_dict())
    plain.eval(), inter.eval()
    loss_plain, loss_inter = plain.training_step(batch, 0), inter.training_step(batch, 0)
    assert torch.isfinite(loss_inter) and not torch.isclose(loss_plain, loss_inter)
    loss_inter.backward()
    assert inter.model.layers[0].ffn1.fc1.weight.grad is not None
