"""Embedded synthetic speech corpus in exact LibriSpeech layout (`conprune data synth`).

Real English sentences (KJV, Austen or --text) are spoken by several offline TTS engines, each voice
varied in pitch and tempo to make speakers. Splits keep LibriSpeech names so the LibriSpeech code
reads them unchanged: train-clean-100 holds the training voices, dev-clean/test-clean the same
voices on unseen sentences, dev-other/test-other whole voices never heard in training (different
engines' voices, because eSpeak variants alone do not behave like different speakers).
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import random
import shutil
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf

from conprune.corpus.confirm import CONFIRM_SIZE, CONFIRM_SPLITS, build_confirm_plan, confirm_source_name
from conprune.corpus.plan import SPLITS, Utterance, default_eval_size, plan_utterances, split_sizes
from conprune.corpus.reports import write_reports
from conprune.corpus.text_sources import load_sentences, source_names
from conprune.corpus.tts_engines import ENGINES, SAMPLE_RATE, Speaker, build_speakers
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open, atomic_write_json, atomic_write_text, ensure_writable_dir

GENERATOR_VERSION = 2
SECONDS_PER_WORD = 0.28  # measured mean over the engines/tempi here; only turns --hours into a count
CHUNK = 24  # utterances per worker task: one eSpeak child / festival process each
STAMP = ".conprune_synth.json"
ALL_SPLITS = (*SPLITS, *CONFIRM_SPLITS)


def resolve_engines(engines: list[str] | None) -> list[str]:
    """Requested engines (all installed ones by default), checked to exist and be installed."""
    if engines is None:
        names = [n for n, e in ENGINES.items() if e.available()]
    else:
        unknown = [n for n in engines if n not in ENGINES]
        if unknown:
            raise ConpruneError(f"engines: unknown engine {unknown[0]!r}; choose from {', '.join(ENGINES)}")
        missing = [n for n in engines if not ENGINES[n].available()]
        if missing:
            raise ConpruneError(f"engines: {missing[0]} is not installed; run `make system-deps` "
                                f"(scripts/install_system_deps.sh) or leave it out of --engines")
        names = [n for n in ENGINES if n in engines]
    if not names:
        raise ConpruneError("engines: no TTS engine available; `pip install espeakng-loader` or "
                            "run `make system-deps`")
    return names


def _write_flac(path: Path, audio: np.ndarray) -> None:
    """16-bit 16 kHz FLAC written atomically (tmp + rename), so a killed run leaves no half file."""
    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)
    with atomic_open(path, "wb", "audio file") as fh:
        sf.write(fh, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def _run_task(task: tuple[dict, list[tuple[str, str]]]) -> list[tuple[str, float]]:
    """Synthesise one chunk (one speaker) and return (flac path, seconds) per utterance.

    A chunk whose files all exist is only measured (resume after a kill); otherwise the whole
    chunk is regenerated, because eSpeak's output depends on the sentences spoken before it.
    """
    speaker = Speaker(**task[0])
    items = [(Path(p), text) for p, text in task[1]]
    if all(p.is_file() for p, _ in items):
        return [(str(p), sf.info(str(p)).frames / SAMPLE_RATE) for p, _ in items]
    audios = ENGINES[speaker.engine].synthesize(speaker, [text.lower() for _, text in items])
    out = []
    for (path, _), audio in zip(items, audios):
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_flac(path, audio)
        out.append((str(path), len(audio) / SAMPLE_RATE))
    return out


def _check_counts(hours: float | None, utterances: int | None, workers: int, dev: int | None,
                  test: int | None, extra_hours: float) -> None:
    if (hours is None) == (utterances is None):
        raise ConpruneError("hours/utterances: give exactly one of --hours or --utterances")
    if hours is not None and not (isinstance(hours, (int, float)) and 0 < hours <= 1000):
        raise ConpruneError(f"hours: must be a number in (0, 1000], got {hours!r}")
    if utterances is not None and not (isinstance(utterances, int) and utterances >= 10):
        raise ConpruneError(f"utterances: must be an integer >= 10, got {utterances!r}")
    for name, value in (("dev_utterances", dev), ("test_utterances", test)):
        if value is not None and not (isinstance(value, int) and value >= 1):
            raise ConpruneError(f"{name}: must be an integer >= 1, got {value!r}")
    if not (isinstance(extra_hours, (int, float)) and 0 <= extra_hours <= 1000):
        raise ConpruneError(f"extra_train_hours: must be a number in [0, 1000], got {extra_hours!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ConpruneError(f"workers: must be an integer >= 1, got {workers!r}")


def split_digests(plan: list[Utterance]) -> dict[str, str]:
    """A fingerprint of each split's planned utterances (ids, speakers, texts): a split whose
    fingerprint is unchanged is kept on disk when other splits grow."""
    digests: dict = {}
    for u in plan:
        digests.setdefault(u.split, hashlib.sha256()).update(
            f"{u.utt_id}|{u.speaker.name}|{u.speaker.gain}|{u.text}\n".encode())
    return {split: h.hexdigest() for split, h in digests.items()}


def synthesize_corpus(root: Path, hours: float | None = None, utterances: int | None = None,
                      seed: int = 0, text_file: Path | None = None, workers: int = 2,
                      engines: list[str] | None = None, progress: bool = True,
                      min_words: int = 5, max_words: int = 35, dev_utterances: int | None = None,
                      test_utterances: int | None = None, extra_train_hours: float = 0.0,
                      confirm_utterances: int = CONFIRM_SIZE, confirm_text: Path | None = None) -> Path:
    """Write <root>/LibriSpeech/<split>/... + <root>/SYNTHETIC.md; return <root>/LibriSpeech.

    Exactly one of `hours` (approximate audio duration) or `utterances` sets the size of the
    training split train-clean-100; `dev_utterances` / `test_utterances` the size of each dev / test
    split (default: `default_eval_size`); `extra_train_hours` adds train-clean-360 (more sentences,
    the same training voices); `confirm_utterances` the size of each confirmation split, spoken
    from `confirm_text` (default Moby Dick; see corpus/confirm.py). The same arguments and seed give
    the same sentences, speakers and audio bytes. Rerun with other sizes, only the splits whose plan
    changed are rewritten: the training split stays byte-identical when only the evaluation splits
    grow (see corpus/plan.py), and no main split changes when the confirmation splits are added.
    """
    _check_counts(hours, utterances, workers, dev_utterances, test_utterances, extra_train_hours)
    if not isinstance(confirm_utterances, int) or confirm_utterances < 0:
        raise ConpruneError(f"confirm_utterances: must be an integer >= 0, got {confirm_utterances!r}")
    if not 1 <= min_words <= max_words:
        raise ConpruneError(f"min_words/max_words: need 1 <= min_words <= max_words, got {min_words}/{max_words}")
    if text_file is not None and not Path(text_file).is_file():
        raise ConpruneError(f"text: file not found: {text_file}; pass an existing UTF-8 text file")
    root, names = Path(root), resolve_engines(engines)
    content = {"generator": GENERATOR_VERSION, "seed": seed, "engines": names, "sources": source_names(text_file),
               "min_words": min_words, "max_words": max_words,
               "text_file": str(text_file) if text_file is not None else None,
               "text_sha256": hashlib.sha256(Path(text_file).read_bytes()).hexdigest() if text_file else None}
    libri = root / "LibriSpeech"
    sentences, _ = load_sentences(text_file, min_words, max_words)
    random.Random(seed).shuffle(sentences)
    mean_words = sum(s.words for s in sentences) / len(sentences)
    train = utterances if utterances is not None else max(10, math.ceil(hours * 3600 / (mean_words * SECONDS_PER_WORD)))
    extra = math.ceil(extra_train_hours * 3600 / (mean_words * SECONDS_PER_WORD))
    default = default_eval_size(train)
    sizes = split_sizes(train, dev_utterances or default, test_utterances or default, extra)
    plan = plan_utterances(sentences, build_speakers(names, seed), sizes, seed)
    plan += build_confirm_plan(confirm_utterances, confirm_text, names, seed, min_words, max_words, sentences, plan)
    digests = split_digests(plan)
    # Not in `content`: a corpus made before the confirmation splits existed keeps its main splits.
    args = {**content, "hours": hours, "utterances": utterances, "dev_utterances": dev_utterances,
            "test_utterances": test_utterances, "extra_train_hours": extra_train_hours,
            "confirm_utterances": confirm_utterances, "confirm_text": str(confirm_text) if confirm_text else None,
            "confirm_source": confirm_source_name(confirm_text) if confirm_utterances else None}
    kept = _kept_splits(libri, content, digests)
    if kept == digests:
        return libri
    libri.mkdir(parents=True, exist_ok=True)
    ensure_writable_dir(root, "corpus root (--root)")
    atomic_write_json(libri / STAMP, {"args": args, "content": content, "splits": kept, "complete": False},
                      "corpus stamp")
    start = time.time()
    seconds = _synthesize(libri, plan, workers, progress)
    _write_transcripts(libri, plan)
    write_reports(root, libri, plan, seconds, {**args, "utterances": train}, time.time() - start, ALL_SPLITS)
    atomic_write_json(libri / STAMP, {"args": args, "content": content, "splits": digests, "complete": True},
                      "corpus stamp")
    return libri


def _kept_splits(libri: Path, content: dict, digests: dict[str, str]) -> dict[str, str]:
    """The digests of the splits on disk that are exactly this plan (all of `digests`: nothing to
    do). Every other split is removed: all of them when the text, engines or seed changed, else
    only those whose plan changed. A stamp left by a killed run lists the splits it had kept."""
    stamp = libri / STAMP
    if not stamp.is_file():
        if any((libri / split).exists() for split in ALL_SPLITS):
            raise ConpruneError(f"root: {libri} holds a LibriSpeech corpus not made by `conprune data synth`; "
                                f"choose another --root")
        return {}
    old = json.loads(stamp.read_text())
    if old.get("content") == content and old.get("splits") == digests and old.get("complete"):
        return digests
    same_content = old.get("content") == content
    kept = {}
    for split in ALL_SPLITS:
        if same_content and split in digests and old.get("splits", {}).get(split) == digests[split]:
            kept[split] = digests[split]
        else:
            shutil.rmtree(libri / split, ignore_errors=True)
    return kept


def _synthesize(libri: Path, plan: list[Utterance], workers: int, progress: bool) -> dict[str, float]:
    """Run all chunks (slowest engines first, for load balance) and return seconds per utterance id."""
    groups: dict[tuple[str, int], list[Utterance]] = defaultdict(list)
    for u in plan:
        groups[(u.split, u.speaker.speaker_id)].append(u)
    tasks = []
    for (_, _), utts in sorted(groups.items()):
        for i in range(0, len(utts), CHUNK):
            chunk = utts[i:i + CHUNK]
            tasks.append((asdict(chunk[0].speaker), [(str(u.path(libri)), u.text) for u in chunk]))
    slow = {"piper": 0, "festival": 1, "flite": 2, "espeak": 3}
    tasks.sort(key=lambda t: (slow[t[0]["engine"]], t[1][0][0]))
    from tqdm import tqdm

    seconds: dict[str, float] = {}
    with tqdm(total=len(plan), unit="utt", desc="synth", disable=not progress) as bar:
        if workers == 1:
            results = map(_run_task, tasks)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(workers)
            results = pool.imap_unordered(_run_task, tasks)
        try:
            for done in results:
                for path, secs in done:
                    seconds[Path(path).stem] = secs
                bar.update(len(done))
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    return seconds


def _write_transcripts(libri: Path, plan: list[Utterance]) -> None:
    """<spk>-<chap>.trans.txt per chapter, lines sorted by utterance id as in LibriSpeech; a file
    that already says exactly this is left alone, so a kept split is not even touched."""
    chapters: dict[Path, list[str]] = defaultdict(list)
    for u in plan:
        chapters[u.path(libri).parent / f"{u.speaker.speaker_id}-{u.chapter}.trans.txt"].append(
            f"{u.utt_id} {u.text}")
    for path, lines in chapters.items():
        text = "\n".join(sorted(lines)) + "\n"
        if not (path.is_file() and path.read_text() == text):
            atomic_write_text(path, text, "transcript")
