"""Which sentence each voice speaks in which split: the corpus plan, before any audio exists.

The plan is built so that growing one split never changes another. Evaluation sentences are
dealt from the end of the shuffled sentence list, interleaved over the four evaluation splits,
and training sentences from its start (train-clean-100, then the optional train-clean-360), so
`--test-utterances 1000` adds test sentences without touching a single training utterance, and
a teacher trained on one corpus still matches its training split after the test splits grow.
Voices are assigned in blocks of one voice cycle, each block shuffled by its own seeded RNG, so
utterance i of a split gets the same speaker whatever the split's final size.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from conprune.corpus.text_sources import Sentence
from conprune.corpus.tts_engines import VOICES, Speaker
from conprune.errors import ConpruneError

TRAIN_SPLITS = ("train-clean-100", "train-clean-360")
EVAL_SPLITS = ("dev-clean", "test-clean", "dev-other", "test-other")
SPLITS = ("train-clean-100", *EVAL_SPLITS, "train-clean-360")
# Chapter ids are speaker_id * 10 + this index (LibriSpeech-like, unique per speaker and split).
SPLIT_INDEX = {split: i for i, split in enumerate(SPLITS)}


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: its split, speaker, chapter, index in the chapter and transcript."""

    split: str
    speaker: Speaker
    chapter: int
    index: int
    text: str

    @property
    def utt_id(self) -> str:
        return f"{self.speaker.speaker_id}-{self.chapter}-{self.index:04d}"

    def path(self, libri: Path) -> Path:
        return libri / self.split / str(self.speaker.speaker_id) / str(self.chapter) / f"{self.utt_id}.flac"


def default_eval_size(train: int) -> int:
    """Utterances per evaluation split when none is asked for: 4.4 % of the training split (the
    6 h corpus's 158 per split), at least min(24, train/17), at least 1."""
    return max(round(0.044 * train), min(24, train // 17), 1)


def split_sizes(train: int, dev: int, test: int, extra_train: int = 0) -> dict[str, int]:
    """Utterances per split, in planning order."""
    return {"train-clean-100": train, "dev-clean": dev, "test-clean": test, "dev-other": dev,
            "test-other": test, "train-clean-360": extra_train}


def _role(split: str) -> str:
    return "train" if split.endswith("clean") or split.startswith("train") else split


def _sentences_of(split: str, sizes: dict[str, int], sentences: list[Sentence]) -> list[Sentence]:
    """Training splits from the front of the list, evaluation splits interleaved from the back."""
    if split == "train-clean-100":
        return sentences[: sizes[split]]
    if split == "train-clean-360":
        start = sizes["train-clean-100"]
        return sentences[start: start + sizes[split]]
    k, n = EVAL_SPLITS.index(split), len(sentences)
    return [sentences[n - 1 - (len(EVAL_SPLITS) * i + k)] for i in range(sizes[split])]


def check_sizes(sizes: dict[str, int], available: int) -> None:
    """Refuse a plan that needs more distinct sentences than the text has."""
    train = sizes["train-clean-100"] + sizes["train-clean-360"]
    tail = len(EVAL_SPLITS) * max(sizes[s] for s in EVAL_SPLITS)
    if train + tail > available:
        raise ConpruneError(f"utterances: the splits need {train + tail} distinct sentences but only {available} "
                            f"are available; lower --hours/--utterances, --extra-train-hours or the evaluation "
                            f"sizes, or pass a larger --text")


def plan_utterances(sentences: list[Sentence], speakers: list[Speaker], sizes: dict[str, int],
                    seed: int) -> list[Utterance]:
    """Every utterance of every split. Each voice of a role gets its share (a share-2 voice twice per
    cycle), spread evenly over its speakers; a held-out role with no installed voice borrows the
    other held-out role's voices (never training voices)."""
    check_sizes(sizes, len(sentences))
    share = {(e, v): w for e, v, _, _, w in VOICES}
    by_role: dict[str, dict[tuple[str, str], list[Speaker]]] = defaultdict(lambda: defaultdict(list))
    for sp in speakers:
        by_role[sp.role][(sp.engine, sp.voice)].append(sp)
    if not by_role["train"]:
        raise ConpruneError("engines: no training voice installed; add espeak to --engines")
    if not by_role["dev-other"] and not by_role["test-other"]:
        raise ConpruneError("engines: no held-out voice installed; add espeak to --engines")
    plan: list[Utterance] = []
    for split in SPLITS:
        role = _role(split)
        if not by_role[role]:
            role = "test-other" if role == "dev-other" else "dev-other"
        cycle = [v for r in range(2) for v in sorted(by_role[role]) if share[v] > r]
        voices = block_shuffled(cycle, sizes[split], seed, split)
        used: dict[tuple[str, str], int] = defaultdict(int)
        counters: dict[int, int] = defaultdict(int)
        for sentence, key in zip(_sentences_of(split, sizes, sentences), voices):
            sp = by_role[role][key][used[key] % len(by_role[role][key])]
            used[key] += 1
            plan.append(Utterance(split, sp, sp.speaker_id * 10 + SPLIT_INDEX[split], counters[sp.speaker_id],
                                  sentence.transcript))
            counters[sp.speaker_id] += 1
    return plan


def block_shuffled(cycle: list, count: int, seed: int, split: str) -> list:
    """`count` entries of `cycle` repeated, each whole cycle shuffled by a RNG of its own (seed,
    split, block), so the first n entries are the same for any count >= n."""
    out: list = []
    block = 0
    while len(out) < count:
        order = list(cycle)
        random.Random(f"{seed}/{split}/{block}").shuffle(order)
        out += order
        block += 1
    return out[:count]
