"""Every file conprune writes goes through here: temp file, fsync, rename; writability checked early.

Why one helper: a stage killed mid-write (SIGKILL, OOM, power loss, a full disk) must leave the
old output or none, never a truncated file that a later idempotent stage mistakes for finished
work. The temp file lives in the target's directory, so ``os.replace`` is a same-filesystem rename
and atomic. OS errors a user can fix (permission denied, read-only or full disk) become one-line
`ConpruneError`s naming the path, instead of a traceback hours into a run.

This module sits below every layer (it imports only `conprune.errors`), so data, models, pruning,
lit, eval and the CLI can all use it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from conprune.errors import ConpruneError

USER_FIXABLE = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device",
                errno.EDQUOT: "disk quota exceeded", errno.ENOTDIR: "a file is in the way",
                errno.EEXIST: "a file is in the way"}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _user_error(exc: OSError, path: Path, what: str) -> ConpruneError | None:
    """A one-line error for an OS error the user can fix, else None (re-raise as is)."""
    reason = USER_FIXABLE.get(exc.errno or -1)
    if reason is None:
        return None
    fix = ("free some space or choose another output directory" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
           else "make it writable (chmod/chown) or choose another output directory")
    return ConpruneError(f"cannot write {what} {path}: {reason}; {fix}")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", what: str = "file") -> Iterator[IO]:
    """Open a temp file next to ``path``; on clean exit fsync it and rename it over ``path``.

    Readers see either the old file or the complete new one. On any exception (including
    KeyboardInterrupt) the temp file is removed and ``path`` is left untouched; a SIGKILL leaves
    at most a hidden ``.<name>.*.tmp`` next to it, never a partial ``path``. The new file gets
    the usual umask permissions (mkstemp's 0600 would make shared outputs private).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise (_user_error(exc, path, what) or exc) from None
    encoding = None if "b" in mode else "utf-8"
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and (error := _user_error(exc, path, what)) is not None:
            raise error from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str, what: str = "file") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    with atomic_open(path, "w", what) as f:
        f.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, what: str = "file") -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_open(path, "wb", what) as f:
        f.write(data)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any, what: str = "file", indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON (+ newline) to ``path`` atomically; return the path."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n", what)


def ensure_writable_dir(path: str | os.PathLike, what: str, min_free_bytes: int = 0) -> Path:
    """Create ``path`` if needed and prove it takes a file; raise a one-line error otherwise.

    Called at the start of a stage so an unwritable or full output directory fails in seconds,
    not when the first checkpoint is saved hours later. A 64 KiB probe file is written and
    fsynced (a full disk often still allows creating an empty file), and ``min_free_bytes``
    (e.g. the size of the checkpoints a run will keep) must be free.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".conprune-write-probe.", dir=path)
        try:
            os.write(fd, b"\0" * 65536)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise (_user_error(exc, path, what) or exc) from None
    if min_free_bytes > 0:
        free = shutil.disk_usage(path).free
        if free < min_free_bytes:
            raise ConpruneError(f"{what} {path} has {free / 2**20:.0f} MiB free but this stage needs about "
                                f"{min_free_bytes / 2**20:.0f} MiB: free some space or choose another directory")
    return path
