"""JSONL manifests: one utterance per line, the hand-off between `data prepare` and training.

A row is ``{"id", "path", "num_samples", "sample_rate", "text", "speaker"}`` with an absolute
``path``, so a manifest can be read from any working directory. Writes are atomic
(`conprune.io_atomic`, re-exported here for older imports) so an interrupted stage never leaves a
half-written manifest that a later, idempotent stage would mistake for finished output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from conprune.errors import ConpruneError
from conprune.io_atomic import atomic_open, atomic_write_text

__all__ = ["atomic_open", "atomic_write_text", "iter_manifest", "read_manifest", "write_manifest"]

REQUIRED_KEYS = ("id", "path", "num_samples", "sample_rate", "text", "speaker")


def write_manifest(rows: Iterable[dict], path: str | os.PathLike) -> int:
    """Stream ``rows`` to a JSONL manifest atomically; return the number of rows written.

    ``rows`` may be a generator, so a 280k-utterance split never has to sit in memory.
    """
    n = 0
    with atomic_open(path, "w", "manifest") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_manifest(path: str | os.PathLike) -> Iterator[dict]:
    """Yield validated rows of a manifest one at a time (see `read_manifest` for errors)."""
    path = Path(path)
    if not path.is_file():
        raise ConpruneError(
            f"manifest {path} does not exist: run `conprune data prepare --root DIR` "
            f"(or `conprune data synth --root DIR`) to create it"
        )
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConpruneError(
                    f"manifest {path} line {lineno} is not valid JSON ({e.msg}): "
                    f"fix the line or regenerate it with `conprune data prepare --root DIR`"
                ) from None
            if not isinstance(row, dict):
                raise ConpruneError(
                    f"manifest {path} line {lineno} is not a JSON object: "
                    f"regenerate it with `conprune data prepare --root DIR`"
                )
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                raise ConpruneError(
                    f"manifest {path} line {lineno} lacks key(s) {', '.join(missing)}: "
                    f"regenerate it with `conprune data prepare --root DIR`"
                )
            yield row


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Read a whole manifest; raise `ConpruneError` naming the file (and line) when it is bad."""
    return list(iter_manifest(path))
