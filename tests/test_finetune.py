"""FinetuneModule: the compact student trained with the prune stage's distillation via `conprune fit`."""

import csv

import pytest
import torch

from conprune.cli import run_lightning
from conprune.errors import ConpruneError
from conprune.lit.finetune import FinetuneModule
from conprune.models.package import load_model, save_model
from conprune.stages.export import compact_command


def test_finetune_fit_logs_distillation_and_exports_compact(tmp_path, stage_args, compact_student):
    out = tmp_path / "run"
    cli = run_lightning(stage_args(
        "finetune", out, "--data.batching.max_frames", "800",
        "--model.init_args.student_model", str(compact_student),
        "--trainer.max_steps", "6", "--trainer.val_check_interval", "3", "--trainer.log_every_n_steps", "1",
        "--trainer.callbacks", ("[{class_path: lightning.pytorch.callbacks.ModelCheckpoint, "
                                f"init_args: {{dirpath: {out}/ckpt, filename: best, monitor: val/wer}}}}]"),
        logger="csv"))
    with open(next(out.rglob("metrics.csv"))) as fh:
        columns = set(next(csv.DictReader(fh)))
    assert {"loss/layer", "loss/kd", "val/wer"} <= columns
    before, _ = load_model(compact_student)
    summary = compact_command(str(out / "ckpt" / "best.ckpt"), str(tmp_path / "finetuned.pt"))
    model, info = load_model(tmp_path / "finetuned.pt")
    assert model.config == before.config and info["meta"]["stage"] == "finetune"
    assert summary["dense_params"] > summary["params"]
    changed = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), before.state_dict().values()))
    assert changed and cli.model.teacher.training is False


def test_student_of_another_teacher_is_refused(tmp_path, teacher_ckpt, tiny_model):
    path = save_model(tmp_path / "other.pt", tiny_model(num_layers=3), None, None, None)
    with pytest.raises(ConpruneError, match="does not belong to teacher"):
        FinetuneModule(student_model=str(path), teacher_ckpt=str(teacher_ckpt), vocab_size=41)
