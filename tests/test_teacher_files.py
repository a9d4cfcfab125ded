"""What a shipped teacher rests on: fp16 model files, a given tokenizer and CMVN file, the
training-data fingerprint, teacher model files as `teacher_ckpt`, the refusals and warnings of a
student stage that meets other data, and the model card."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import soundfile as sf
import torch

from conprune.data.fingerprint import audio_md5, compare_fingerprints, corpus_fingerprint, split_fingerprint
from conprune.errors import ConpruneError
from conprune.lit.student import PrunedStudentModule
from conprune.measure.evaluate import evaluate
from conprune.models.package import load_model, read_package, save_model
from conprune.report.model_card import REQUIRED, build_card, card_markdown
from conprune.stages.checkpoint_io import load_ctc_model


def _shipped(tmp_path: Path, dm, model, meta: dict | None = None) -> Path:
    """A teacher model file as `conprune ship-teacher` writes it (fp16 storage, data fingerprint)."""
    meta = {"train_data": dm.train_fingerprint(), "dev_wer": 0.5, **(meta or {})}
    return save_model(tmp_path / "teacher.pt", model.eval(), dm.tokenizer.model_proto, dm.cmvn_settings(), meta,
                      storage_dtype=torch.float16)


def test_fp16_storage_halves_the_file_and_loads_as_fp32(tmp_path, tiny_model) -> None:
    model = tiny_model().eval()
    full = save_model(tmp_path / "fp32.pt", model)
    half = save_model(tmp_path / "fp16.pt", model, storage_dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert read_package(half)["state_dict"]["head.weight"].dtype == torch.float16
    loaded, _ = load_model(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x, n = torch.randn(1, 120, 80), torch.tensor([120])
    with torch.no_grad():
        a, b = model(x, n).log_probs, loaded(x, n).log_probs
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.95 and (a - b).abs().max() < 0.05


def test_fingerprint_tells_text_from_audio(prepared_copy) -> None:
    dm = prepared_copy()
    rows = [json.loads(line) for line in dm.manifest_path("train-clean-100").read_text().splitlines()]
    before = split_fingerprint(rows)
    assert before == split_fingerprint(list(reversed(rows))) and before["utterances"] == len(rows)
    path = rows[0]["path"]
    md5 = audio_md5(path)
    audio, sr = sf.read(path)
    sf.write(path, audio * 0.5, sr, subtype="PCM_16")
    assert audio_md5(path) != md5
    audio_changed = split_fingerprint(rows)
    assert audio_changed["text_sha256"] == before["text_sha256"] != audio_changed["audio_sha256"]
    text_changed = split_fingerprint([{**rows[0], "text": "OTHER WORDS"}, *rows[1:]])
    assert compare_fingerprints({"a": before}, {"a": before}) == ("same", ["a"])
    assert compare_fingerprints({"a": before}, {"a": audio_changed}) == ("audio", ["a"])
    assert compare_fingerprints({"a": before}, {"a": text_changed})[0] == "text"
    assert compare_fingerprints({"a": before}, {"b": before}) == ("none", [])
    assert set(corpus_fingerprint(dm.root, ["dev-clean"])) == {"dev-clean"}


def test_given_tokenizer_and_cmvn_files_are_used_and_checked(prepared_corpus, prepared_copy, tmp_path) -> None:
    shipped = prepared_corpus
    tokenizer, cmvn = tmp_path / "tokenizer.model", tmp_path / "cmvn.json"
    shutil.copyfile(shipped.tokenizer_path, tokenizer)
    cmvn.write_text(json.dumps(shipped.cmvn_settings()))
    dm = prepared_copy(tokenizer=str(tokenizer), cmvn=str(cmvn))
    assert dm.tokenizer_path == tokenizer and dm.tokenizer.model_proto == shipped.tokenizer.model_proto
    assert torch.equal(dm.cmvn.mean, shipped.cmvn.mean)
    with pytest.raises(ConpruneError, match=r"^data.cmvn: .*nowhere.json not found"):
        prepared_copy(cmvn=str(tmp_path / "nowhere.json"))
    with pytest.raises(ConpruneError, match=r"data.cmvn: .* lifter 20 features but data.front_end.lifter=0"):
        prepared_copy(cmvn=str(cmvn), front_end={"lifter": 0})


def test_model_file_is_a_teacher(prepared_corpus, tiny_model, tmp_path) -> None:
    path = _shipped(tmp_path, prepared_corpus, tiny_model())
    model, extra = load_ctc_model(path, vocab_size=41)
    assert model.training and extra["tokenizer"] == prepared_corpus.tokenizer.model_proto
    assert extra["train_data"] == prepared_corpus.train_fingerprint() and extra["meta"]["dev_wer"] == 0.5
    with pytest.raises(ConpruneError, match="has vocabulary 41 but the data's tokenizer gives 30"):
        load_ctc_model(path, vocab_size=30)
    student = PrunedStudentModule(teacher_ckpt=str(path), vocab_size=41)
    assert student.config == model.config


def _attach(module, dm) -> None:
    module._trainer = SimpleNamespace(datamodule=dm, world_size=1, global_rank=0)


def test_student_refuses_other_tokenizer_or_statistics(prepared_corpus, prepared_copy, tiny_model,
                                                       tmp_path) -> None:
    teacher = _shipped(tmp_path, prepared_corpus, tiny_model())
    other = prepared_copy(num_pieces=30)
    student = PrunedStudentModule(teacher_ckpt=str(teacher))
    _attach(student, other)
    with pytest.raises(ConpruneError, match=r"tokenizer .*unigram30.model is not the one .*teacher.pt was trained"):
        student.setup("fit")
    stats = tmp_path / "shifted.json"
    stats.write_text(json.dumps({**prepared_corpus.cmvn_settings(),
                                 "mean": [m + 0.5 for m in prepared_corpus.cmvn.mean.tolist()]}))
    shutil.copyfile(prepared_corpus.tokenizer_path, tmp_path / "tok.model")
    shifted = prepared_copy(cmvn=str(stats), tokenizer=str(tmp_path / "tok.model"))
    _attach(student, shifted)
    with pytest.raises(ConpruneError, match=r"other CMVN statistics .*shifted.json.*set data.cmvn"):
        student.setup("fit")


def test_student_warns_when_the_training_audio_differs(prepared_corpus, prepared_copy, tiny_model, tmp_path,
                                                       caplog) -> None:
    fingerprint = prepared_corpus.train_fingerprint()
    moved = {split: {**fp, "audio_sha256": "0" * 64} for split, fp in fingerprint.items()}
    teacher = _shipped(tmp_path, prepared_corpus, tiny_model(), {"train_data": moved})
    shutil.copyfile(prepared_corpus.tokenizer_path, tmp_path / "tok.model")
    (tmp_path / "cmvn.json").write_text(json.dumps(prepared_corpus.cmvn_settings()))
    dm = prepared_copy(tokenizer=str(tmp_path / "tok.model"), cmvn=str(tmp_path / "cmvn.json"))
    student = PrunedStudentModule(teacher_ckpt=str(teacher))
    _attach(student, dm)
    with caplog.at_level(logging.WARNING, logger="conprune.lit.distillation"):
        student.setup("fit")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "other audio" in lines[0] and "dev WER on this corpus is" in lines[0]
    assert "(its card: 50.0 %)" in lines[0] and "\n" not in lines[0]
    caplog.clear()
    texts = {split: {**fp, "text_sha256": "1" * 64} for split, fp in fingerprint.items()}
    student = PrunedStudentModule(teacher_ckpt=str(_shipped(tmp_path, prepared_corpus, tiny_model(),
                                                            {"train_data": texts})))
    _attach(student, dm)
    with caplog.at_level(logging.WARNING, logger="conprune.lit.distillation"):
        student.setup("fit")
    assert next(r.getMessage() for r in caplog.records).endswith("its card's numbers do not describe this corpus")


def test_model_card_from_an_evaluation(prepared_corpus, tiny_model, tmp_path) -> None:
    model = tiny_model().eval()
    info = {"tokenizer": prepared_corpus.tokenizer.model_proto, "cmvn": prepared_corpus.cmvn_settings(), "meta": {}}
    splits = ["dev-clean", "dev-other", "test-clean", "test-other"]
    results = evaluate(model, info, prepared_corpus.root, splits, repeats=1, predictions=tmp_path / "pred")
    from conprune.report.voices import wer_table

    voices = wer_table(tmp_path / "pred", prepared_corpus.root)
    assert {p.name for p in (tmp_path / "pred").iterdir()} == {f"predictions-{s}.jsonl" for s in splits}
    training = {"steps": 10, "wall_s": 60, "hardware": "test CPU", "command": "make teacher PROFILE=long"}
    data = {"train_splits": prepared_corpus.train_fingerprint(), "synth_command": "conprune data synth ..."}
    card = build_card("tiny-v0", results, voices, training, data, {})
    assert set(REQUIRED) <= set(card) and 0 <= card["test_other_wer"] and card["params"] == results["params"]
    words = {r["split"]: r["words"] for r in voices if r["voice"] == "*"}
    expected = sum(results["wer"][s] * words[s] for s in splits[:2]) / sum(words[s] for s in splits[:2])
    assert card["dev_wer"] == pytest.approx(expected)
    text = card_markdown(card, voices)
    assert "tiny-v0" in text and "make teacher PROFILE=long" in text and "| test-other | **all** |" in text
