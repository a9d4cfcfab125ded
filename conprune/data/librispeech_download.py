"""Download LibriSpeech splits from OpenSLR (or a mirror), resumably, MD5-verified, and extract them;
and LibriSpeech's official 4-gram LM (OpenSLR resource 11), which `download_lm` fetches the same way.

Every step can be interrupted and re-run without losing work; see `download`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from conprune.data import layout
from conprune.data.librispeech import expand_splits
from conprune.errors import ConpruneError
from conprune.io_atomic import ensure_writable_dir

log = logging.getLogger(__name__)

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
# The LM resource: estimated on LibriSpeech's LM corpus, which leaves out the books of dev and test.
# MD5 as published in https://www.openslr.org/resources/11/md5sum.txt.
LM_URL = "https://www.openslr.org/resources/11"
LM_MD5 = {"4-gram.arpa.gz": "6abdcd5b055bd482e4f9defe91d40408"}
_CHUNK = 1 << 20


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


def download_lm(root: str | os.PathLike, name: str = "4-gram.arpa.gz", base_url: str = LM_URL,
                progress: bool = True, checksums: dict[str, str] | None = None) -> Path:
    """Download LibriSpeech's LM file `name` into ``<root>/lm/``, resumably, MD5-verified; return it.

    It stays gzipped: the decoder (KenLM) and `conprune.data.ngram_lm.lm_vocabulary` read the
    ARPA file as it is. Like `download`, it goes to ``NAME.part`` first and becomes ``NAME`` only
    once its MD5 matches, so a present ``NAME`` is complete and is not fetched again.
    ``checksums`` ({name: md5}) replaces the OpenSLR table, for mirrors and tests.
    """
    table = LM_MD5 if checksums is None else checksums
    if name not in table:
        raise ConpruneError(f"--lm: no known checksum for LM file '{name}' (known: {', '.join(sorted(table))})")
    out_dir = ensure_writable_dir(layout.lm_dir(Path(root).expanduser().absolute()), "LM directory (--root)")
    dest, part = out_dir / name, out_dir / f"{name}.part"
    if dest.is_file():
        log.info("%s already downloaded in %s", name, out_dir)
        return dest
    _fetch(f"{base_url.rstrip('/')}/{name}", part, progress)
    if _md5(part) != table[name]:
        part.unlink()
        raise ConpruneError(f"checksum mismatch for {part} (expected md5 {table[name]}): the bad file was deleted, "
                            "re-run `conprune data download --lm`")
    os.replace(part, dest)
    return dest
