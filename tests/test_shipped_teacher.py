"""The shipped teacher under pretrained/: its card, its files, transcription of freshly synthesised
speech, and the refusal of a student stage whose tokenizer is not the teacher's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import soundfile as sf
from torchmetrics.functional.text import word_error_rate

from conprune.corpus.text_normalize import normalize_transcript
from conprune.corpus.tts_engines import ENGINES, SAMPLE_RATE, Speaker
from conprune.data.features import read_cmvn
from conprune.data.tokenizer import Tokenizer, train_tokenizer
from conprune.errors import ConpruneError
from conprune.inference.transcribe import Transcriber
from conprune.lit.student import PrunedStudentModule
from conprune.models.package import load_model
from conprune.report.model_card import REQUIRED

SHIPPED = Path(__file__).resolve().parents[1] / "pretrained" / "demo-teacher-v1"
# Sentences in neither training text (the corpus speaks the KJV and Austen), said by a training voice.
SENTENCES = ["The committee will meet again on Tuesday morning to discuss the new budget.",
             "She opened the window and listened to the rain falling on the garden.",
             "Every student must return the library books before the end of the month.",
             "The old bridge over the river was closed for repairs last winter."]


def test_card_and_files() -> None:
    card = json.loads((SHIPPED / "card.json").read_text())
    assert set(REQUIRED) <= set(card)
    assert all(0 < card[k] < 1 for k in ("test_clean_wer", "test_other_wer", "dev_clean_wer", "dev_other_wer"))
    model, info = load_model(SHIPPED / "model.pt")
    assert model.count_params() == card["params"] and info["meta"]["train_data"] == card["data"]["train_splits"]
    assert Tokenizer(SHIPPED / "tokenizer.model").model_proto == info["tokenizer"]
    assert read_cmvn(SHIPPED / "cmvn.json")["mean"] == info["cmvn"]["mean"]
    assert (SHIPPED / "model.pt").stat().st_size < 20e6


def test_transcribes_fresh_speech(tmp_path: Path) -> None:
    speaker = Speaker(1, "espeak", "en-us", "m3", "M", 1.0, 1.0, 0.8, "train")
    files, refs = [], []
    for i, (text, audio) in enumerate(zip(SENTENCES, ENGINES["espeak"].synthesize(speaker, SENTENCES))):
        path = tmp_path / f"{i}.flac"
        sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
        files.append(path)
        refs.append(normalize_transcript(text))
    transcribe = Transcriber(*load_model(SHIPPED / "model.pt"))
    hyps = [transcribe(path) for path in files]
    assert float(word_error_rate(hyps, refs)) < 0.5, list(zip(refs, hyps))


def test_student_refuses_another_tokenizer(tmp_path: Path) -> None:
    """Same size, other pieces: trained on other text, it would turn labels into other ids."""
    words = " ".join(normalize_transcript(s) for s in SENTENCES).split()
    texts = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    other = train_tokenizer(texts * 4, tmp_path / "other.model", 64)
    student = PrunedStudentModule(teacher_ckpt=str(SHIPPED / "model.pt"), vocab_size=65)
    data = SimpleNamespace(tokenizer=Tokenizer(other), tokenizer_path=other)
    student._trainer = SimpleNamespace(datamodule=data)
    with pytest.raises(ConpruneError, match=r"tokenizer .*other.model is not the one .*demo-teacher-v1/model.pt"):
        student.setup("validate")
