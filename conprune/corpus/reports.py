"""What a synthesised corpus says about itself: LibriSpeech's SPEAKERS.TXT and SYNTHETIC.md.

SPEAKERS.TXT names every speaker "<engine> <voice>[+variant] pitch P tempo T", which is how the
report groups utterances by voice (WER per voice, speaker-clustered intervals); SYNTHETIC.md
records the command, the engines, the text sources and hours and voices per split, so a corpus
on disk can be traced back to how it was made.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from conprune.corpus.confirm import CONFIRM_SIZE, CONFIRM_SPLITS
from conprune.corpus.plan import Utterance
from conprune.corpus.tts_engines import ENGINES, VOICES, Speaker
from conprune.io_atomic import atomic_write_text


def _speakers_txt(libri: Path, plan: list[Utterance], seconds: dict[str, float]) -> None:
    """SPEAKERS.TXT: a training voice's home is train-clean-100, a held-out one's its own split."""
    minutes: dict[int, float] = defaultdict(float)
    speakers: dict[int, tuple[Speaker, str]] = {}
    for u in plan:
        home = "train-clean-100" if u.speaker.role == "train" else u.split
        if u.split == home:
            minutes[u.speaker.speaker_id] += seconds.get(u.utt_id, 0.0) / 60
        speakers.setdefault(u.speaker.speaker_id, (u.speaker, home))
    lines = [";ID      |SEX| SUBSET           |MINUTES| NAME"]
    for sid, (sp, home) in sorted(speakers.items()):
        lines.append(f"{sid:<8}| {sp.sex or '?'} | {home:<16} | {minutes[sid]:5.2f} | {sp.name}")
    atomic_write_text(libri / "SPEAKERS.TXT", "\n".join(lines) + "\n", "speaker list")


def _command(root: Path, args: dict) -> str:
    """The `conprune data synth` command line that `args` stand for."""
    cmd = ["conprune data synth", f"--root {root}", f"--seed {args['seed']}"]
    cmd += [f"--hours {args['hours']}"] if args["hours"] is not None else [f"--utterances {args['utterances']}"]
    cmd += [f"--{k.replace('_', '-')} {args[k]}" for k in ("dev_utterances", "test_utterances", "extra_train_hours")
            if args.get(k)]
    if args.get("confirm_utterances", CONFIRM_SIZE) != CONFIRM_SIZE:
        cmd += [f"--confirm-utterances {args['confirm_utterances']}"]
    cmd += [f"--engines {','.join(args['engines'])}"] + ([f"--text {args['text_file']}"] if args["text_file"] else [])
    return " ".join(cmd + ([f"--confirm-text {args['confirm_text']}"] if args.get("confirm_text") else []))


def _voice_rows(plan: list[Utterance]) -> list[str]:
    """One row per engine voice and role (the confirmation splits reuse voices at other settings)."""
    ids: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    splits: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for u in plan:
        key = (u.speaker.engine, u.speaker.voice, u.speaker.role)
        ids[key].add(u.speaker.speaker_id)
        splits[key].add(u.split)
    order = {(e, v): i for i, (e, v, *_) in enumerate(VOICES)}
    roles = ("train", "dev-other", "test-other", *CONFIRM_SPLITS)
    rows = []
    for key in sorted(ids, key=lambda k: (roles.index(k[2]), order[k[:2]])):
        first, last = min(ids[key]), max(ids[key])
        rows.append(f"| {key[0]} | {key[1]} | {key[2]} | {', '.join(sorted(splits[key]))} | {first}-{last} |")
    return rows


def write_reports(root: Path, libri: Path, plan: list[Utterance], seconds: dict[str, float],
                  args: dict, wall: float, splits: tuple[str, ...]) -> None:
    """SPEAKERS.TXT (LibriSpeech format) and <root>/SYNTHETIC.md (how the corpus was made)."""
    _speakers_txt(libri, plan, seconds)
    split_secs: dict[str, float] = defaultdict(float)
    split_n: dict[str, int] = defaultdict(int)
    for u in plan:
        split_secs[u.split] += seconds.get(u.utt_id, 0.0)
        split_n[u.split] += 1
    versions = ", ".join(ENGINES[n].version() for n in args["engines"])
    sources = ", ".join(args["sources"])
    if args.get("confirm_source"):
        sources += f"; test-confirm-*: {args['confirm_source']}"
    md = ["# Synthetic LibriSpeech-layout corpus", "",
          (f"Made {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} by `{_command(root, args)}` "
           f"in {wall:.0f} s (generator v{args['generator']})."), "",
          f"- Engines: {versions}",
          (f"- Sentence sources: {sources} ({args['min_words']}-{args['max_words']} "
           "words, deduplicated; no sentence in two splits)"),
          f"- Arguments: `{json.dumps(args)}`", "",
          "| split | utterances | hours | speakers |", "| --- | ---: | ---: | ---: |"]
    for split in (s for s in splits if split_n[s]):
        n_spk = len({u.speaker.speaker_id for u in plan if u.split == split})
        md.append(f"| {split} | {split_n[split]} | {split_secs[split] / 3600:.3f} | {n_spk} |")
    md += ["", ("Voices (train voices also speak dev-clean/test-clean sentences; other voices are held "
                "out whole; the test-confirm roles use voices at settings no other split uses):"), "",
           "| engine | voice | role | splits | speaker ids |", "| --- | --- | --- | --- | --- |"]
    md += _voice_rows(plan)
    atomic_write_text(root / "SYNTHETIC.md", "\n".join(md) + "\n", "corpus report")
