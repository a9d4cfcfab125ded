"""The bad-input matrix: one test per item, asserting the one-line message or the skip count.

Every refusal is a `ConpruneError` (printed by the CLI as one `error:` line, exit status 2) that
names the file or field and the fix; where skipping is right, the skip is counted. Policy for a
sample rate other than 16 kHz: the file is kept and resampled on load.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from conprune.cli import main
from conprune.data.features import load_audio, num_frames
from conprune.data.librispeech import prepare
from conprune.data.manifest import read_manifest, write_manifest
from conprune.data.tokenizer import Tokenizer, train_tokenizer
from conprune.errors import ConpruneError
from conprune.lit.callbacks.ramp import SparsityRamp
from conprune.lit.datamodule import LibriSpeechDataModule
from conprune.lit.student import PrunedStudentModule
from conprune.models.config import build_config
from conprune.stages.checkpoint_io import save_ctc_checkpoint

TRAIN = "train-clean-100"


def _chapter(root: Path, split: str = "dev-clean") -> Path:
    d = root / "LibriSpeech" / split / "1" / "2"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _tone(seconds: float = 0.5, rate: int = 16000, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _corpus_with(tmp_path: Path, odd: str) -> tuple[Path, Path]:
    """A dev-clean chapter with two good utterances and one `odd` one; returns (root, odd path)."""
    d = _chapter(tmp_path)
    lines = []
    for i in range(2):
        sf.write(d / f"1-2-{i:04d}.flac", _tone(), 16000)
        lines.append(f"1-2-{i:04d} GOOD WORDS")
    odd_path = d / "1-2-0009.flac"
    if odd == "corrupt":
        odd_path.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    elif odd == "empty":
        odd_path.write_bytes(b"")
    elif odd == "rate":
        sf.write(odd_path, _tone(rate=8000), 8000)
    elif odd == "stereo":
        sf.write(odd_path, _tone(channels=2), 16000)
    else:  # "no_transcript": audio without a transcript line
        sf.write(odd_path, _tone(), 16000)
    if odd != "no_transcript":
        lines.append("1-2-0009 ODD ONE")
    (d / "1-2.trans.txt").write_text("\n".join(lines) + "\n")
    return tmp_path, odd_path


# -- corpus layout ------------------------------------------------------------------------------
def test_missing_root(tmp_path):
    with pytest.raises(ConpruneError, match=r"data root .*nowhere does not exist: pass --data.root"):
        LibriSpeechDataModule(root=str(tmp_path / "nowhere")).prepare_data()


def test_empty_split(tmp_path):
    _chapter(tmp_path, TRAIN)
    with pytest.raises(ConpruneError, match=rf"{TRAIN} has no usable utterances .*check it holds"):
        prepare(tmp_path, [TRAIN], progress=False, workers=1)


def test_unknown_split_name(tmp_path):
    _corpus_with(tmp_path, "rate")
    with pytest.raises(ConpruneError, match=r"split 'dev-cleen' not found .*\(splits there: dev-clean\)"):
        prepare(tmp_path, ["dev-cleen"], progress=False, workers=1)


# -- audio files: skipped and counted, or kept ----------------------------------------------------
@pytest.mark.parametrize("odd, reason", [("corrupt", "corrupt_audio"), ("empty", "empty_audio"),
                                         ("no_transcript", "no_transcript")])
def test_unusable_utterance_is_skipped_and_counted(tmp_path, odd, reason):
    root, _ = _corpus_with(tmp_path, odd)
    stats = prepare(root, ["dev-clean"], progress=False, workers=1)["dev-clean"]
    assert stats["utterances"] == 2 and stats["skipped"] == {reason: 1}
    assert "1-2-0009" in (root / "manifests" / "dev-clean.skipped.tsv").read_text()


def test_corrupt_flac_read_directly_names_the_file(tmp_path):
    _, path = _corpus_with(tmp_path, "corrupt")
    with pytest.raises(ConpruneError, match=r"cannot read audio file .*1-2-0009.flac"):
        load_audio(path)


def test_wrong_sample_rate_is_kept_and_resampled(tmp_path):
    root, path = _corpus_with(tmp_path, "rate")
    stats = prepare(root, ["dev-clean"], progress=False, workers=1)["dev-clean"]
    assert stats["utterances"] == 3 and stats["resampled"] == 1
    row = next(r for r in read_manifest(root / "manifests" / "dev-clean.jsonl") if r["id"] == "1-2-0009")
    assert row["sample_rate"] == 8000 and row["num_samples"] == 4000
    wav = load_audio(path)
    assert wav.shape == (8000,)  # 0.5 s at 16 kHz
    assert num_frames(row["num_samples"], row["sample_rate"]) == wav.numel() // 160 + 1


def test_stereo_file_is_kept_and_downmixed(tmp_path):
    root, path = _corpus_with(tmp_path, "stereo")
    stats = prepare(root, ["dev-clean"], progress=False, workers=1)["dev-clean"]
    assert stats["utterances"] == 3 and stats["skipped"] == {}
    wav = load_audio(path)
    assert wav.dim() == 1 and wav.numel() == 8000


# -- manifests at training time -------------------------------------------------------------------
@pytest.fixture()
def data(prepared_copy) -> LibriSpeechDataModule:
    return prepared_copy(val_splits=("dev-clean",), batching={"num_workers": 0})


def _rewrite(dm: LibriSpeechDataModule, split: str, edit) -> None:
    rows = read_manifest(dm.manifest_path(split))
    write_manifest([edit(i, r) for i, r in enumerate(rows)], dm.manifest_path(split))


def test_transcript_with_characters_outside_the_tokenizer(data):
    def odd(i: int, row: dict) -> dict:
        return {**row, "text": row["text"] + " ЖÉ"} if i == 0 else row

    _rewrite(data, TRAIN, odd)
    _rewrite(data, "dev-clean", odd)
    train = data._dataset(TRAIN, train=True)
    assert data.skipped[TRAIN] == {"too_long": 0, "unknown_chars": 1}
    assert len(train) == 11  # skipped for training ...
    assert len(data._dataset("dev-clean", train=False)) == 3  # ... kept (and counted) for scoring
    assert data.skipped["dev-clean"]["unknown_chars"] == 1


def test_utterance_longer_than_the_frame_cap(data):
    rows = read_manifest(data.manifest_path(TRAIN))
    longest = max(num_frames(r["num_samples"]) for r in rows)
    data.batching = replace(data.batching, max_train_frames=longest - 1)
    assert len(data._dataset(TRAIN, train=True)) < len(rows)
    assert data.skipped[TRAIN]["too_long"] >= 1
    data.batching = replace(data.batching, max_train_frames=10)
    with pytest.raises(ConpruneError, match=r"all 12 utterances were skipped \(12 longer than data.batching."
                                            r"max_train_frames=10.*raise data.batching.max_train_frames"):
        data._dataset(TRAIN, train=True)


def test_manifest_whose_audio_moved(data):
    shutil.move(data.root / "LibriSpeech", data.root / "Moved")
    with pytest.raises(ConpruneError, match=rf"manifest .*{TRAIN}.jsonl lists audio .* does not exist "
                                            r"\(was the corpus moved.*delete .*manifests"):
        data.train_dataloader()


# -- configs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, named", [
    ("model.init_args.lrr", 0.1, r"at model \(conprune.lit.teacher.TeacherModule\): Option 'lrr' is not accepted"),
    ("model.init_args.optim.lr", "fast", r"at model.init_args.optim.lr .*Expected a <class .float.>. Got value: fast"),
    ("data.batching.max_frames", "lots",
     r"at data.batching.max_frames: Expected a <class 'int'>. Got value: lots"),
    ("trainer.max_stepz", 3, r"does not accept option 'trainer.max_stepz'"),
])
def test_yaml_with_unknown_key_or_wrong_type(tmp_path, capsys, key, value, named):
    config = {"trainer": {"logger": False, "max_steps": 1},
              "model": {"class_path": "conprune.lit.teacher.TeacherModule", "init_args": {"preset": "tiny"}},
              "data": {"root": str(tmp_path / "corpus")}}
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", str(path)])
    assert exc.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: invalid config")
    assert re.search(named, errors[0]), errors[0]


# -- checkpoints and tokenizers -------------------------------------------------------------------
@pytest.mark.parametrize("kind, message", [
    ("vocab", r"checkpoint .*teacher.ckpt has vocabulary 30 but the data's tokenizer gives 41.*data.num_pieces"),
    ("architecture", r"checkpoint .*teacher.ckpt weights do not fit its model config"),
    ("foreign", r"teacher.ckpt is not a conprune checkpoint .*pass a checkpoint written by `conprune fit`"),
])
def test_teacher_checkpoint_of_another_architecture_or_vocab(tmp_path, tiny_model, kind, message):
    path = tmp_path / "teacher.ckpt"
    if kind == "vocab":
        save_ctc_checkpoint(path, tiny_model(30))
    elif kind == "architecture":
        save_ctc_checkpoint(path, tiny_model())
        ckpt = torch.load(path, weights_only=True)
        ckpt["conprune"]["model_config"] = build_config("tiny", 41, {"num_layers": 3}).to_dict()
        torch.save(ckpt, path)
    else:
        torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}, "epoch": 3}, path)
    with pytest.raises(ConpruneError, match=message):
        PrunedStudentModule(teacher_ckpt=str(path), vocab_size=41)


def test_tokenizer_that_does_not_match_the_checkpoint(tmp_path, data, tiny_model):
    texts = [" ".join(reversed(r["text"].split())) + " ZEBRA" for r in read_manifest(data.manifest_path(TRAIN))]
    other = Tokenizer(train_tokenizer(texts, tmp_path / "other.model", 40))
    assert other.vocab_size == data.tokenizer.vocab_size and other.model_proto != data.tokenizer.model_proto
    cmvn = data.cmvn_settings()
    module = PrunedStudentModule(teacher_ckpt=str(save_ctc_checkpoint(tmp_path / "teacher.ckpt", tiny_model(),
                                                                      other.model_proto, cmvn)))
    module._trainer = SimpleNamespace(datamodule=data)
    with pytest.raises(ConpruneError, match=r"tokenizer .*unigram40.model is not the one .*teacher.ckpt was "
                                            r"trained with .*use the data.root and data.num_pieces"):
        module.setup("fit")
    same = PrunedStudentModule(teacher_ckpt=str(save_ctc_checkpoint(tmp_path / "same.ckpt", tiny_model(),
                                                                    data.tokenizer.model_proto, cmvn)))
    same._trainer = SimpleNamespace(datamodule=data)
    same.setup("fit")


@pytest.mark.parametrize("target", [1.0, 1.5, 0.0, -0.2])
def test_impossible_target(teacher_ckpt, target):
    with pytest.raises(ConpruneError, match=rf"target must be a sparsity fraction in \(0, 1\).*got {target}"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), target={"sparsity": target})
    with pytest.raises(ConpruneError, match=rf"SparsityRamp target must be a sparsity fraction.*got {target}"):
        SparsityRamp(target=target)
