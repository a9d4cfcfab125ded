"""LibriSpeech on disk: find it and turn splits into manifests (downloading: `librispeech_download`).

Everything here works on the LibriSpeech *layout*
(``LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` plus
``<speaker>-<chapter>.trans.txt``), not on the seven official split names, so the embedded
corpus written by ``conprune data synth`` goes through exactly the same code.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from multiprocessing import Pool
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from conprune.data import layout
from conprune.data.manifest import write_manifest
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open, ensure_writable_dir

log = logging.getLogger(__name__)

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500",
          "dev-clean", "dev-other", "test-clean", "test-other")
# The embedded corpus's confirmation pair: a text and voice settings nothing was tuned on, for
# reporting only (never for a decision); real LibriSpeech has none.
CONFIRM_SPLITS = ("test-confirm-clean", "test-confirm-other")
EVAL_SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
ALIASES = {"train-960": ["train-clean-100", "train-clean-360", "train-other-500"],
           "test-confirm": list(CONFIRM_SPLITS)}
SAMPLE_RATE = 16000
SKIP_REASONS = ("corrupt_audio", "empty_audio", "no_transcript", "no_audio", "empty_transcript")


def expand_splits(names: str | Iterable[str]) -> list[str]:
    """Expand aliases (``train-960``) and comma lists into split names, first occurrence kept.

    Unknown names pass through: other LibriSpeech-layout corpora use their own split names,
    and `prepare` reports a missing split directory with the list of those that exist.
    """
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for item in names:
        for name in (n.strip() for n in str(item).split(",")):
            for split in ALIASES.get(name, [name] if name else []):
                if split not in out:
                    out.append(split)
    return out


def default_eval_splits(root: str | os.PathLike) -> list[str]:
    """What an evaluation reads unless told otherwise: dev and test, plus the confirmation pair
    where the corpus has it (its audio, or already its manifests)."""
    present = [s for s in CONFIRM_SPLITS if (layout.corpus_tree(root) / s).is_dir()
               or layout.manifest_path(root, s).is_file()]
    return [*EVAL_SPLITS, *present] if len(present) == len(CONFIRM_SPLITS) else list(EVAL_SPLITS)


def find_corpus_dir(root: str | os.PathLike) -> Path:
    """Return the ``LibriSpeech`` directory given it or the directory that contains it."""
    root = Path(root).expanduser().absolute()
    hint = ("pass --data.root pointing at the directory that contains LibriSpeech/ (or run "
            "`conprune data synth --root DIR` / `conprune data download --root DIR`)")
    if not root.is_dir():
        raise ConpruneError(f"data root {root} does not exist: {hint}")
    if (root / "LibriSpeech").is_dir():
        return root / "LibriSpeech"
    if root.name == "LibriSpeech":
        return root
    raise ConpruneError(f"data root {root} has no LibriSpeech/ directory: {hint}")


def _scan_chapter(chapter_dir: str) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Rows and skips of one chapter directory; runs in a worker process (sf.info is I/O bound)."""
    chapter = Path(chapter_dir)
    speaker = chapter.parent.name
    texts: dict[str, str] = {}
    for trans in sorted(chapter.glob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            if line.strip():
                utt, _, text = line.strip().partition(" ")
                texts[utt] = text.strip()
    flacs = {p.name[: -len(".flac")]: p for p in chapter.glob("*.flac")}
    rows, skipped = [], []
    for utt in sorted(texts.keys() | flacs.keys()):
        path = str(flacs.get(utt, chapter / f"{utt}.flac"))
        reason = ("no_audio" if utt not in flacs else "no_transcript" if utt not in texts
                  else "empty_transcript" if not texts[utt] else None)
        if reason is None:
            try:  # a zero-sample FLAC from libsndfile is a 0-byte file that sf.info rejects
                info = sf.info(path)
                reason = "empty_audio" if info.frames <= 0 else None
            except (RuntimeError, OSError):  # sf.LibsndfileError subclasses RuntimeError
                reason = "empty_audio" if os.path.getsize(path) == 0 else "corrupt_audio"
        if reason:
            skipped.append((utt, path, reason))
            continue
        rows.append({"id": utt, "path": path, "num_samples": int(info.frames),
                     "sample_rate": int(info.samplerate), "text": texts[utt], "speaker": speaker})
    return rows, skipped


def _chapter_dirs(split_dir: Path) -> list[str]:
    """Chapters keyed by ``<spk>-<chap>-``, their ids' common prefix, so that concatenating
    each chapter's sorted ids sorts all ids (``-`` sorts before digits and letters)."""
    chapters = [c for s in split_dir.iterdir() if s.is_dir() for c in s.iterdir() if c.is_dir()]
    return [str(c) for c in sorted(chapters, key=lambda c: f"{c.parent.name}-{c.name}-")]


def prepare(root: str | os.PathLike, splits: str | Iterable[str],
            out_dir: str | os.PathLike | None = None, workers: int = 2,
            progress: bool = True) -> dict[str, dict]:
    """Write ``<out_dir>/<split>.jsonl`` (sorted by id) for each split; return per-split stats.

    ``out_dir`` defaults to ``manifests/`` next to the ``LibriSpeech`` directory. Chapters are
    scanned in a process pool and rows streamed to the file, so memory stays bounded on
    train-960 (281k utterances). Unusable utterances (corrupt or zero-length FLAC, a FLAC with
    no transcript line or the reverse) are skipped, counted, listed in ``<split>.skipped.tsv``
    and summarised in one warning per split.

    Sample-rate policy: files that are not 16 kHz are *kept*, their rate in the row's
    ``sample_rate``, and the feature pipeline resamples them: dropping them would silently
    shrink a corpus over a fixable property, so we only log how many there are.
    Stats: ``utterances``, ``hours``, ``skipped`` ({reason: count}), ``resampled``, ``manifest``.
    """
    corpus = find_corpus_dir(root)
    out = Path(out_dir) if out_dir is not None else corpus.parent / "manifests"
    names = expand_splits(splits)
    if not names:
        raise ConpruneError(f"no splits given for {corpus}: pass e.g. --splits dev-clean,test-clean")
    for split in names:
        if not (corpus / split).is_dir():
            have = ", ".join(sorted(p.name for p in corpus.iterdir()
                                    if p.is_dir() and not p.name.startswith("."))) or "none"
            raise ConpruneError(f"split '{split}' not found in {corpus} (splits there: {have}): "
                                f"fix the split name or download/synthesise it first")
    ensure_writable_dir(out, "manifest directory")
    return {split: _prepare_split(corpus, split, out, workers, progress) for split in names}


def _prepare_split(corpus: Path, split: str, out: Path, workers: int, progress: bool) -> dict:
    chapters = _chapter_dirs(corpus / split)
    skipped: list[tuple[str, str, str]] = []
    stats = {"utterances": 0, "seconds": 0.0, "resampled": 0}

    def rows() -> Iterator[dict]:
        use_pool = workers > 1 and len(chapters) > 1
        with Pool(workers) if use_pool else contextlib.nullcontext() as pool:  # exit terminates
            results = pool.imap(_scan_chapter, chapters, 4) if pool else map(_scan_chapter, chapters)
            for chapter_rows, chapter_skips in tqdm(results, total=len(chapters), unit="chapter",
                                                    desc=split, disable=not progress):
                skipped.extend(chapter_skips)
                for row in chapter_rows:
                    stats["utterances"] += 1
                    stats["seconds"] += row["num_samples"] / row["sample_rate"]
                    stats["resampled"] += row["sample_rate"] != SAMPLE_RATE
                    yield row
        if stats["utterances"] == 0:  # raising here discards the temp file: no empty manifest
            raise ConpruneError(f"split {corpus / split} has no usable utterances ({len(skipped)} "
                                f"skipped): check it holds <speaker>/<chapter>/*.flac + *.trans.txt")

    manifest = out / f"{split}.jsonl"
    write_manifest(rows(), manifest)
    with atomic_open(out / f"{split}.skipped.tsv", "w", "skip list") as f:
        f.write("id\tpath\treason\n")
        f.writelines(f"{u}\t{p}\t{r}\n" for u, p, r in skipped)
    counts = Counter(r for _, _, r in skipped)
    if skipped:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        log.warning("%s: skipped %d utterances (%s); listed in %s", split, len(skipped), detail,
                    out / f"{split}.skipped.tsv")
    if stats["resampled"]:
        log.warning("%s: %d utterances are not %d Hz; kept, the feature pipeline resamples them",
                    split, stats["resampled"], SAMPLE_RATE)
    return {"utterances": stats["utterances"], "hours": stats["seconds"] / 3600,
            "skipped": dict(counts), "resampled": stats["resampled"], "manifest": str(manifest)}
