"""FinetuneModule: the compact student trained with the prune stage's distillation via `conprune fit`."""

import csv
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from conprune.cli import run_lightning
from conprune.data.datamodule import LibriSpeechDataModule
from conprune.errors import ConpruneError
from conprune.lit.export import compact_command
from conprune.lit.finetune import FinetuneModule
from conprune.lit.teacher import build_config
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model
from conprune.pruning.compact import compact

CONFIG = str(Path(__file__).resolve().parents[1] / "experiments" / "finetune.yaml")
FRONT_END = {k: yaml.safe_load(Path(CONFIG).read_text())["data"][k] for k in ("lifter", "utterance_cmn")}


@pytest.fixture()
def files(tmp_path, tiny_corpus):
    """(corpus root, teacher checkpoint, compact student file with one FFN and one MHSA removed)."""
    root = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, root)
    dm = LibriSpeechDataModule(root=str(root), num_pieces=40, **FRONT_END)
    dm.prepare_data()
    dm.setup("fit")
    torch.manual_seed(0)
    teacher = ConformerCTC(build_config("tiny", 41, {"dropout": 0.0, "attn_dropout": 0.0})).eval()
    cmvn = {"mean": dm.cmvn.mean.tolist(), "std": dm.cmvn.std.tolist(), **dm.front_end}
    ckpt = tmp_path / "teacher.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in teacher.state_dict().items()},
                "conprune": {"model_config": teacher.config.to_dict(), "tokenizer": dm.tokenizer.model_proto,
                             "cmvn": cmvn}}, ckpt)
    gates = {"layers.0.ffn1.module": torch.tensor(0.0), "layers.1.mhsa.module": torch.tensor(0.0),
             "layers.1.ffn2.units": (torch.arange(teacher.config.ffn2_dim[1]) % 2).float()}
    student = compact(teacher, gates)
    path = save_model(tmp_path / "student.pt", student, dm.tokenizer.model_proto, cmvn,
                      {"dense_config": teacher.config.to_dict()})
    return root, ckpt, path


def test_finetune_fit_logs_distillation_and_exports_compact(tmp_path, files):
    root, ckpt, student = files
    out = tmp_path / "run"
    cli = run_lightning([
        "fit", "--config", CONFIG, "--data.root", str(root), "--data.num_pieces", "40", "--data.max_frames", "800",
        "--model.init_args.student_model", str(student), "--model.init_args.teacher_ckpt", str(ckpt),
        "--trainer.max_steps", "6", "--trainer.val_check_interval", "3", "--trainer.log_every_n_steps", "1",
        "--trainer.default_root_dir", str(out), "--trainer.enable_progress_bar", "false",
        "--trainer.logger", ("[{class_path: lightning.pytorch.loggers.CSVLogger, "
                             f"init_args: {{save_dir: {out}, name: csv}}}}]"),
        "--trainer.callbacks", ("[{class_path: lightning.pytorch.callbacks.ModelCheckpoint, "
                                f"init_args: {{dirpath: {out}/ckpt, filename: best, monitor: val/wer}}}}]")])
    with open(next(out.rglob("metrics.csv"))) as fh:
        columns = set(next(csv.DictReader(fh)))
    assert {"loss/layer", "loss/kd", "val/wer"} <= columns
    before, _ = load_model(student)
    summary = compact_command(str(out / "ckpt" / "best.ckpt"), str(tmp_path / "finetuned.pt"))
    model, info = load_model(tmp_path / "finetuned.pt")
    assert model.config == before.config and info["meta"]["stage"] == "finetune"
    assert summary["dense_params"] > summary["params"]
    changed = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), before.state_dict().values()))
    assert changed and cli.model.teacher.training is False


def test_student_of_another_teacher_is_refused(tmp_path, files):
    _, ckpt, _ = files
    other = ConformerCTC(build_config("tiny", 41, {"num_layers": 3}))
    path = save_model(tmp_path / "other.pt", other, None, None, None)
    with pytest.raises(ConpruneError, match="does not belong to teacher"):
        FinetuneModule(student_model=str(path), teacher_ckpt=str(ckpt), vocab_size=41)
