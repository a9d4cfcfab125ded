"""LibriSpeech on disk: find it, download it from OpenSLR, and turn splits into manifests.

Everything here works on the LibriSpeech *layout*
(``LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` plus
``<speaker>-<chapter>.trans.txt``), not on the seven official split names, so the embedded
corpus written by ``conprune data synth`` goes through exactly the same code.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from multiprocessing import Pool
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from conprune.data.manifest import write_manifest
from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open, ensure_writable_dir

log = logging.getLogger(__name__)

SPLITS = ("train-clean-100", "train-clean-360", "train-other-500",
          "dev-clean", "dev-other", "test-clean", "test-other")
ALIASES = {"train-960": ["train-clean-100", "train-clean-360", "train-other-500"]}
SAMPLE_RATE = 16000
OPENSLR_URL = "https://www.openslr.org/resources/12"
# MD5 of each archive as published in https://www.openslr.org/resources/12/md5sum.txt.
MD5 = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
SKIP_REASONS = ("corrupt_audio", "empty_audio", "no_transcript", "no_audio", "empty_transcript")
_CHUNK = 1 << 20


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


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _copy_from(src, dest: Path, offset: int, total: int | None, progress: bool) -> None:
    with open(dest, "ab" if offset else "wb") as f, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name,
            disable=not progress) as bar:
        for block in iter(lambda: src.read(_CHUNK), b""):
            f.write(block)
            bar.update(len(block))


def _fetch(url: str, dest: Path, progress: bool) -> None:
    """Download ``url`` into ``dest``, continuing a partial ``dest`` (HTTP Range / file offset)."""
    offset = dest.stat().st_size if dest.exists() else 0
    if offset:
        log.info("resuming %s at byte %d", dest.name, offset)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        src_path = Path(urllib.request.url2pathname(parsed.path))
        if not src_path.is_file():
            raise ConpruneError(f"archive {src_path} does not exist: check --base-url")
        size = src_path.stat().st_size
        offset = 0 if offset > size else offset
        with open(src_path, "rb") as src:
            src.seek(offset)
            _copy_from(src, dest, offset, size, progress)
        return
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            if offset and resp.status != 206:  # server ignored the Range header: start over
                offset = 0
            length = resp.headers.get("Content-Length")
            _copy_from(resp, dest, offset, offset + int(length) if length else None, progress)
    except urllib.error.HTTPError as e:
        if e.code != 416:  # 416: nothing left past `offset`, the file is already complete
            raise ConpruneError(f"download of {url} failed (HTTP {e.code}): check --base-url "
                                f"and re-run `conprune data download` to resume") from None
    except (urllib.error.URLError, OSError) as e:
        raise ConpruneError(f"download of {url} failed ({e}): re-run `conprune data download` "
                            f"to resume from {dest}") from None


def _extract(archive: Path, root: Path) -> None:
    """Stream-extract ``archive`` under ``root``; refuse members that would land outside it.

    Files already present with the member's size are skipped, so re-running after an
    interruption continues rather than starting over.
    """
    root_real = root.resolve()
    has_filter = hasattr(tarfile, "data_filter")
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            target = (root_real / member.name).resolve()
            if not target.is_relative_to(root_real):
                raise ConpruneError(f"archive {archive} member {member.name!r} escapes {root}: "
                                    f"the archive is not a LibriSpeech archive, delete it")
            if not (member.isfile() or member.isdir()):
                continue
            if member.isfile() and target.is_file() and target.stat().st_size == member.size:
                continue
            tar.extract(member, root_real, **({"filter": "data"} if has_filter else {}))


def download(root: str | os.PathLike, splits: str | Iterable[str], base_url: str = OPENSLR_URL,
             progress: bool = True, keep_archive: bool = True,
             checksums: dict[str, str] | None = None) -> list[Path]:
    """Download, MD5-verify and extract LibriSpeech splits under ``<root>/LibriSpeech``.

    Every step can be interrupted and re-run: the archive downloads to ``<split>.tar.gz.part``
    and resumes from its size; it becomes ``<split>.tar.gz`` only once its MD5 matches;
    extraction skips files already in place; ``LibriSpeech/<split>/.done`` marks a finished
    split, which later calls skip. ``checksums`` ({split: md5}) replaces the OpenSLR table,
    for mirrors and tests. Returns the split directories.
    """
    root = ensure_writable_dir(Path(root).expanduser().absolute(), "download root (--root)")
    table = MD5 if checksums is None else checksums
    done_dirs = []
    for split in expand_splits(splits):
        if split not in table:
            raise ConpruneError(f"no known checksum for split '{split}' (known: "
                                f"{', '.join(sorted(table))}): fix the split name")
        split_dir = root / "LibriSpeech" / split
        done_dirs.append(split_dir)
        if (split_dir / ".done").exists():
            log.info("%s already downloaded and extracted in %s", split, split_dir)
            continue
        archive, part = root / f"{split}.tar.gz", root / f"{split}.tar.gz.part"
        got = archive if archive.exists() else part
        if got is part:
            _fetch(f"{base_url.rstrip('/')}/{split}.tar.gz", part, progress)
        if _md5(got) != table[split]:
            got.unlink()
            raise ConpruneError(f"checksum mismatch for {got} (expected md5 {table[split]}): "
                                f"the bad file was deleted, re-run `conprune data download`")
        if got is part:
            os.replace(part, archive)
        log.info("extracting %s into %s", archive.name, root)
        _extract(archive, root)
        if not split_dir.is_dir():
            raise ConpruneError(f"archive {archive} holds no LibriSpeech/{split}/: "
                                f"check --base-url serves LibriSpeech archives")
        (split_dir / ".done").touch()
        if not keep_archive:
            archive.unlink()
    return done_dirs
