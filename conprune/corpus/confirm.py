"""The confirmation splits: test-confirm-clean and test-confirm-other, which nothing is tuned on.

Every design decision is taken on dev; test-clean/test-other then report. After many decisions
read off one test set, a second one that no decision ever saw says whether the result was fitted
to the first. So the confirmation pair differs from everything else in both things that make a
test set: its sentences come from a third text (Moby Dick, `text_sources.mobydick_prose`, with
every sentence of the main text pool removed), and its voices use settings that no other split
uses. test-confirm-clean has the training voices (engine x voice) at tempi and pitches outside
the training ranges and, for eSpeak, variants no other split uses; test-confirm-other does the same
with test-other's held-out voices. Nothing here touches the main plan: the confirmation speakers,
sentences and voice order each have their own seeded RNG, and their ids start at 2000.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from pathlib import Path

from conprune.corpus.plan import Utterance, block_shuffled
from conprune.corpus.text_sources import (
    Sentence,
    file_prose,
    mobydick_available,
    mobydick_prose,
    unique_sentences,
)
from conprune.corpus.tts_engines import ENGINES, VOICES, Speaker
from conprune.errors import ConpruneError

log = logging.getLogger(__name__)

CONFIRM_SPLITS = ("test-confirm-clean", "test-confirm-other")
CONFIRM_SIZE = 500  # utterances per confirmation split: 1,000 in all
FIRST_SPEAKER_ID = 2000
# eSpeak variants that no other split uses (train/dev/test use m1 m3 m7 f1 f3 f4).
CONFIRM_VARIANTS = (("m2", "M"), ("m4", "M"), ("f2", "F"), ("f5", "F"))
# Training draws tempo from [0.85, 1.2], eSpeak pitch from [0.8, 1.25] and the other engines'
# pitch from [0.9, 1.12] (or 1.0): the confirmation speakers lie outside on both sides.
TEMPI = ((0.76, 0.84), (1.21, 1.30))
PITCHES = {"espeak": ((0.66, 0.78), (1.27, 1.40)), "other": ((0.84, 0.89), (1.13, 1.18))}
SPLIT_OF_ROLE = {"train": "test-confirm-clean", "test-other": "test-confirm-other"}
CHAPTER_INDEX = {split: 6 + k for k, split in enumerate(CONFIRM_SPLITS)}  # after plan.SPLIT_INDEX's 0-5


def confirm_source_name(confirm_text: Path | None) -> str | None:
    """The confirmation text that `confirm_sentences` will read, or None when none is installed."""
    if confirm_text is not None:
        return f"file:{Path(confirm_text).name}"
    return "mobydick" if mobydick_available() else None


def confirm_sentences(confirm_text: Path | None, min_words: int, max_words: int,
                      exclude: set[str]) -> list[Sentence]:
    """The confirmation text's sentences, none of them in `exclude` (the main text pool)."""
    if confirm_text is not None and not Path(confirm_text).is_file():
        raise ConpruneError(f"confirm_text: file not found: {confirm_text}; pass an existing UTF-8 text file")
    name = confirm_source_name(confirm_text)
    prose = file_prose(Path(confirm_text)) if confirm_text is not None else mobydick_prose()
    return unique_sentences([(str(name), prose)], min_words, max_words, set(exclude))


def confirm_speakers(engines: list[str], seed: int) -> list[Speaker]:
    """Speakers of the installed training and test-other voices at the confirmation settings:
    four per voice, one in each corner (fast/slow x low/high), ids from FIRST_SPEAKER_ID."""
    rng = random.Random(f"{seed}/confirm-speakers")
    speakers: list[Speaker] = []
    for engine, voice, sex, role, _ in VOICES:
        if role not in SPLIT_OF_ROLE or engine not in engines or voice not in ENGINES[engine].voices():
            continue
        variants = CONFIRM_VARIANTS if engine == "espeak" else [("", sex)] * len(CONFIRM_VARIANTS)
        pitches = PITCHES["espeak" if engine == "espeak" else "other"]
        for i, (variant, vsex) in enumerate(variants):
            tempo, pitch = rng.uniform(*TEMPI[i % 2]), rng.uniform(*pitches[i // 2 % 2])
            speakers.append(Speaker(FIRST_SPEAKER_ID + len(speakers), engine, voice, variant, vsex,
                                    round(pitch, 3), round(tempo, 3), round(rng.uniform(0.5, 0.95), 3),
                                    SPLIT_OF_ROLE[role]))
    return speakers


def plan_confirm(sentences: list[Sentence], speakers: list[Speaker], size: int, seed: int) -> list[Utterance]:
    """`size` utterances per confirmation split. Sentences are shuffled by their own RNG and dealt
    alternately to the two splits, voices in blocks as in the main plan, so utterance i of a
    split is the same for any size >= i + 1."""
    if 2 * size > len(sentences):
        raise ConpruneError(f"confirm_utterances: the confirmation splits need {2 * size} distinct sentences but "
                            f"the confirmation text has {len(sentences)}; lower --confirm-utterances")
    order = list(sentences)
    random.Random(f"{seed}/confirm-sentences").shuffle(order)
    share = {(e, v): w for e, v, _, _, w in VOICES}
    plan: list[Utterance] = []
    for k, split in enumerate(CONFIRM_SPLITS):
        by_voice: dict[tuple[str, str], list[Speaker]] = defaultdict(list)
        for sp in speakers:
            if sp.role == split:
                by_voice[(sp.engine, sp.voice)].append(sp)
        cycle = [v for r in range(2) for v in sorted(by_voice) if share[v] > r]
        used: dict[tuple[str, str], int] = defaultdict(int)
        counters: dict[int, int] = defaultdict(int)
        for i, key in enumerate(block_shuffled(cycle, size if cycle else 0, seed, split)):
            sp = by_voice[key][used[key] % len(by_voice[key])]
            used[key] += 1
            plan.append(Utterance(split, sp, sp.speaker_id * 10 + CHAPTER_INDEX[split], counters[sp.speaker_id],
                                  order[2 * i + k].transcript))
            counters[sp.speaker_id] += 1
    return plan


def check_disjoint(confirm: list[Utterance], plan: list[Utterance]) -> None:
    """Refuse a confirmation sentence that train, dev or test also speaks (the text was filtered
    against the whole main pool, so this only fails if that filter was bypassed)."""
    shared = {u.text for u in confirm} & {u.text for u in plan}
    if shared:
        raise ConpruneError(f"confirm_text: {len(shared)} confirmation sentence(s) are also in train/dev/test, "
                            f"e.g. {min(shared)!r}; pass a --confirm-text that --text does not contain")


def build_confirm_plan(size: int, confirm_text: Path | None, engines: list[str], seed: int, min_words: int,
                       max_words: int, main_pool: list[Sentence], plan: list[Utterance]) -> list[Utterance]:
    """The confirmation utterances for `synthesize_corpus`; [] when `size` is 0 or no confirmation
    text is installed (logged: the corpus is still complete without them)."""
    if size == 0:
        return []
    if confirm_source_name(confirm_text) is None:
        log.warning("confirm: r-cran-tokenizers (Moby Dick) is not installed, so no test-confirm splits; run "
                    "`make system-deps` or pass --confirm-text FILE")
        return []
    sentences = confirm_sentences(confirm_text, min_words, max_words, {s.transcript for s in main_pool})
    confirm = plan_confirm(sentences, confirm_speakers(engines, seed), size, seed)
    check_disjoint(confirm, plan)
    return confirm
