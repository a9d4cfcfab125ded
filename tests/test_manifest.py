"""Manifests: round trip, atomic writes, and one-line errors that name the file and the fix."""

import json

import pytest

from conprune.data.manifest import atomic_write_text, read_manifest, write_manifest
from conprune.errors import ConpruneError

ROWS = [
    {"id": "1-2-0000", "path": "/abs/1-2-0000.flac", "num_samples": 16000, "sample_rate": 16000,
     "text": "HELLO WORLD", "speaker": "1"},
    {"id": "1-2-0001", "path": "/abs/1-2-0001.flac", "num_samples": 8000, "sample_rate": 8000,
     "text": "IT'S CAFÉ", "speaker": "1"},
]


def test_round_trip_from_generator(tmp_path):
    path = tmp_path / "sub" / "dev.jsonl"
    assert write_manifest((r for r in ROWS), path) == 2
    assert read_manifest(path) == ROWS
    assert [p.name for p in path.parent.iterdir()] == ["dev.jsonl"]  # no temp file left


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "dev.jsonl"
    write_manifest(ROWS, path)

    def broken():
        yield ROWS[0]
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_manifest(broken(), path)
    assert read_manifest(path) == ROWS
    assert len(list(tmp_path.iterdir())) == 1


def test_atomic_write_text(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "one\n")
    atomic_write_text(tmp_path / "a.txt", "two\n")
    assert (tmp_path / "a.txt").read_text() == "two\n"
    assert len(list(tmp_path.iterdir())) == 1


def test_missing_file(tmp_path):
    with pytest.raises(ConpruneError, match=r"does not exist.*conprune data prepare --root") as e:
        read_manifest(tmp_path / "nope.jsonl")
    assert "\n" not in str(e.value)


def test_bad_json_names_line(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n{not json\n")
    with pytest.raises(ConpruneError, match=r"dev.jsonl line 3 is not valid JSON"):
        read_manifest(path)


def test_missing_keys(tmp_path):
    path = tmp_path / "dev.jsonl"
    row = {k: v for k, v in ROWS[0].items() if k not in ("text", "speaker")}
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ConpruneError, match=r"line 1 lacks key\(s\) text, speaker"):
        read_manifest(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ConpruneError, match=r"line 1 is not a JSON object"):
        read_manifest(path)
