"""The confirmation splits: another text and voice settings no other split uses, added without
changing a byte of the other splits, prepared and evaluated by default where present.

eSpeak only and small text files, so the corpus is made in seconds; the Moby Dick source and
the full voice inventory are checked where their Debian packages are installed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from conprune.corpus.confirm import (
    CONFIRM_SPLITS,
    FIRST_SPEAKER_ID,
    check_disjoint,
    confirm_speakers,
    plan_confirm,
)
from conprune.corpus.plan import SPLITS, Utterance
from conprune.corpus.synth import STAMP, synthesize_corpus
from conprune.corpus.text_sources import Sentence, mobydick_available
from conprune.corpus.tts_engines import ENGINES, VOICES, build_speakers
from conprune.data.librispeech import default_eval_splits
from conprune.errors import ConpruneError

MAIN = [" ".join(p) for p in itertools.product(("The old man", "A young woman", "Her brother", "The captain"),
                                                ("walked slowly towards", "looked quietly at", "spoke of"),
                                                ("the green hills.", "the little house.", "his own garden."))]
OTHER = [" ".join(p) for p in itertools.product(("Every sailor", "The harpooneer", "A stranger"),
                                                 ("stared long into", "climbed up to", "sang loudly near"),
                                                 ("the dark water.", "the tall mast.", "the cold deck."))]
TRAIN_TEMPO = (0.85, 1.2)


def _texts(libri: Path, split: str) -> dict[str, str]:
    out = {}
    for trans in (libri / split).glob("*/*/*.trans.txt"):
        for line in trans.read_text().splitlines():
            uid, text = line.split(" ", 1)
            out[uid] = text
    return out


def _files(libri: Path, splits: tuple[str, ...]) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(libri)): (p.read_bytes(), p.stat().st_mtime_ns)
            for split in splits for p in (libri / split).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """A corpus made without the confirmation splits, then the same command with them: (root, every
    main split's files before, after)."""
    root = tmp_path_factory.mktemp("confirm")
    (root / "main.txt").write_text("\n".join(MAIN) + "\n")
    (root / "other.txt").write_text("\n".join(OTHER + MAIN[:3]) + "\n")  # three main sentences must be dropped
    kwargs = {"utterances": 12, "seed": 1, "text_file": root / "main.txt", "workers": 1, "engines": ["espeak"],
              "progress": False, "dev_utterances": 2, "test_utterances": 2, "confirm_text": root / "other.txt"}
    libri = synthesize_corpus(root / "corpus", confirm_utterances=0, **kwargs)
    before = _files(libri, SPLITS)
    synthesize_corpus(root / "corpus", confirm_utterances=4, **kwargs)
    return root / "corpus", before, _files(libri, SPLITS)


def test_adding_the_confirmation_splits_rewrites_no_other_file(grown) -> None:
    root, before, after = grown
    assert before == after and len(before) > 20  # same bytes, and not even rewritten (same mtimes)
    assert all((root / "LibriSpeech" / split).is_dir() for split in CONFIRM_SPLITS)
    stamp = root / "LibriSpeech" / STAMP
    mtime = stamp.stat().st_mtime_ns
    kwargs = {"utterances": 12, "seed": 1, "text_file": root.parent / "main.txt", "workers": 1,
              "engines": ["espeak"], "progress": False, "dev_utterances": 2, "test_utterances": 2,
              "confirm_text": root.parent / "other.txt", "confirm_utterances": 4}
    synthesize_corpus(root, **kwargs)
    assert stamp.stat().st_mtime_ns == mtime  # up to date: nothing rewritten


def test_confirmation_text_and_voices_are_new(grown) -> None:
    root, _, _ = grown
    libri = root / "LibriSpeech"
    main = {text for split in SPLITS for text in _texts(libri, split).values()}
    other = {s.upper().rstrip(".") for s in OTHER}
    names = {}
    for line in (libri / "SPEAKERS.TXT").read_text().splitlines()[1:]:
        sid, _, _, _, name = (f.strip() for f in line.split("|"))
        names[int(sid)] = name.split()
    train = {(e, v) for e, v, _, role, _ in VOICES if role == "train"}
    held = {(e, v) for e, v, _, role, _ in VOICES if role == "test-other"}
    for split, voices in zip(CONFIRM_SPLITS, (train, held)):
        texts = _texts(libri, split)
        assert len(texts) == 4 and set(texts.values()) <= other and not set(texts.values()) & main
        for uid in texts:
            sid = int(uid.split("-")[0])
            engine, voice, _, pitch, _, tempo = names[sid]
            assert sid >= FIRST_SPEAKER_ID and (engine, voice.split("+")[0]) in voices
            assert voice.split("+")[1] in {"m2", "m4", "f2", "f5"}  # eSpeak variants no other split uses
            assert not TRAIN_TEMPO[0] <= float(tempo) <= TRAIN_TEMPO[1] and not 0.8 <= float(pitch) <= 1.25
    md = (root / "SYNTHETIC.md").read_text()
    assert "test-confirm-*: file:other.txt" in md and "| test-confirm-other | 4 |" in md


def test_prepare_all_and_evaluate_defaults_include_the_pair(grown, tmp_path: Path) -> None:
    from conprune.cli import main

    root, _, _ = grown
    assert default_eval_splits(tmp_path) == ["dev-clean", "dev-other", "test-clean", "test-other"]
    assert default_eval_splits(root)[-2:] == list(CONFIRM_SPLITS)
    main(["data", "prepare", "--root", str(root), "--splits", "all", "--out", str(tmp_path / "manifests"),
          "--workers", "1"])
    for split in CONFIRM_SPLITS:
        assert len((tmp_path / "manifests" / f"{split}.jsonl").read_text().splitlines()) == 4


def test_confirm_plan_grows_by_prefix_and_follows_the_seed() -> None:
    sentences = [Sentence("t", f"SENTENCE NUMBER {i} IS HERE") for i in range(40)]
    speakers = confirm_speakers(["espeak"], 0)

    def plan(size: int, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {s: [] for s in CONFIRM_SPLITS}
        for u in plan_confirm(sentences, speakers, size, seed):
            out[u.split].append((u.utt_id, u.text))
        return out

    small, large = plan(5), plan(12)
    for split in CONFIRM_SPLITS:
        assert len(large[split]) == 12 and large[split][:5] == small[split]
    assert plan(5, 1) != small and plan(5) == small
    with pytest.raises(ConpruneError, match=r"^confirm_utterances: .* need 42 distinct sentences but .* has 40"):
        plan_confirm(sentences, speakers, 21, 0)


@pytest.mark.skipif(not (ENGINES["flite"].available() and ENGINES["festival"].available()),
                    reason="flite/festival not installed (run `make system-deps`)")
def test_full_inventory_settings_lie_outside_every_other_split() -> None:
    main = build_speakers(list(ENGINES), 0)
    confirm = confirm_speakers(list(ENGINES), 0)
    voices = {split: {(s.engine, s.voice) for s in confirm if s.role == split} for split in CONFIRM_SPLITS}
    assert voices["test-confirm-clean"] == {(s.engine, s.voice) for s in main if s.role == "train"}
    assert voices["test-confirm-other"] == {(s.engine, s.voice) for s in main if s.role == "test-other"}
    assert len({s.speaker_id for s in confirm}) == len(confirm) and min(s.speaker_id for s in confirm) == 2000
    used = {(s.engine, s.voice, s.variant, s.pitch, s.tempo) for s in main}
    for s in confirm:
        assert (s.engine, s.voice, s.variant, s.pitch, s.tempo) not in used
        assert not TRAIN_TEMPO[0] <= s.tempo <= TRAIN_TEMPO[1]
        low, high = (0.8, 1.25) if s.engine == "espeak" else (0.9, 1.12)
        assert not low <= s.pitch <= high


def test_bad_confirmation_input(tmp_path: Path) -> None:
    (tmp_path / "main.txt").write_text("\n".join(MAIN) + "\n")
    kwargs = {"utterances": 12, "text_file": tmp_path / "main.txt", "engines": ["espeak"], "progress": False}
    with pytest.raises(ConpruneError, match=r"^confirm_utterances: must be an integer >= 0"):
        synthesize_corpus(tmp_path / "a", confirm_utterances=-1, **kwargs)
    with pytest.raises(ConpruneError, match=r"^confirm_text: file not found"):
        synthesize_corpus(tmp_path / "b", confirm_utterances=2, confirm_text=tmp_path / "nope.txt", **kwargs)
    speaker = confirm_speakers(["espeak"], 0)[0]
    shared = Utterance("test-confirm-clean", speaker, 1, 0, "THE SAME WORDS HERE")
    with pytest.raises(ConpruneError, match=r"^confirm_text: 1 confirmation sentence\(s\) are also in"):
        check_disjoint([shared], [Utterance("test-clean", speaker, 2, 0, "THE SAME WORDS HERE")])
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.skipif(not mobydick_available(), reason="r-cran-tokenizers not installed (run `make system-deps`)")
def test_mobydick_source() -> None:
    from conprune.corpus.text_sources import mobydick_prose

    paragraphs = mobydick_prose()
    assert len(paragraphs) > 2000 and paragraphs[0].startswith("Call me Ishmael")
    assert paragraphs[-1].endswith("only found another orphan.")
    assert not any(p.startswith(("CHAPTER", "EXTRACTS", "ETYMOLOGY")) for p in paragraphs)
