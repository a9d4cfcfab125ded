"""Helpers every command shares."""

from __future__ import annotations

from pathlib import Path


def writable(out: str | Path | None, what: str) -> None:
    """Fail before minutes of work, not after, when an output directory cannot be written."""
    if out:
        from conprune.io_atomic import ensure_writable_dir

        ensure_writable_dir(Path(out).resolve().parent, what)
