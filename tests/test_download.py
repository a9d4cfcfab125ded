"""`download`: resumable fetch (file:// and HTTP Range), MD5 check, safe idempotent extraction."""

import gzip
import hashlib
import http.server
import io
import logging
import tarfile
import threading

import numpy as np
import pytest
import soundfile as sf

from conprune.data.librispeech import prepare
from conprune.data.librispeech_download import download, download_lm
from conprune.data.ngram_lm import lm_vocabulary
from conprune.errors import ConpruneError


def make_archive(tmp_path, split="dev-clean"):
    """A LibriSpeech-layout ``<split>.tar.gz`` in ``tmp_path/mirror``; returns (dir, md5)."""
    src = tmp_path / "src" / "LibriSpeech"
    chap = src / split / "7" / "3"
    chap.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        sf.write(chap / f"7-3-{i:04d}.flac", rng.normal(0, 0.1, 1600 + 400 * i).astype("float32"),
                 16000, format="FLAC")
    (chap / "7-3.trans.txt").write_text("".join(f"7-3-{i:04d} HELLO {i}\n" for i in range(3)))
    (src / "README.TXT").write_text("tiny\n")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / f"{split}.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="LibriSpeech")
    data = (mirror / f"{split}.tar.gz").read_bytes()
    return mirror, hashlib.md5(data).hexdigest()


def test_download_extract_then_noop(tmp_path):
    mirror, md5 = make_archive(tmp_path)
    root = tmp_path / "data"
    dirs = download(root, ["dev-clean"], base_url=mirror.as_uri(), progress=False,
                    checksums={"dev-clean": md5})
    assert dirs == [root / "LibriSpeech" / "dev-clean"]
    assert (root / "LibriSpeech" / "dev-clean" / ".done").exists()
    assert (root / "dev-clean.tar.gz").exists() and not (root / "dev-clean.tar.gz.part").exists()
    assert prepare(root, "dev-clean", progress=False)["dev-clean"]["utterances"] == 3
    (mirror / "dev-clean.tar.gz").unlink()  # a second call must not need the source
    (root / "dev-clean.tar.gz").unlink()
    download(root, ["dev-clean"], base_url=mirror.as_uri(), progress=False,
             checksums={"dev-clean": md5})


def test_truncated_partial_resumes(tmp_path, caplog):
    mirror, md5 = make_archive(tmp_path)
    root = tmp_path / "data"
    root.mkdir()
    data = (mirror / "dev-clean.tar.gz").read_bytes()
    (root / "dev-clean.tar.gz.part").write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.INFO):
        download(root, "dev-clean", base_url=mirror.as_uri(), progress=False, keep_archive=False,
                 checksums={"dev-clean": md5})
    assert f"resuming dev-clean.tar.gz.part at byte {len(data) // 2}" in caplog.text
    assert (root / "LibriSpeech" / "dev-clean" / ".done").exists()
    assert not (root / "dev-clean.tar.gz").exists()  # keep_archive=False


def test_interrupted_extraction_is_redone(tmp_path):
    mirror, md5 = make_archive(tmp_path)
    root = tmp_path / "data"
    kw = {"base_url": mirror.as_uri(), "progress": False, "checksums": {"dev-clean": md5}}
    download(root, "dev-clean", **kw)
    flac = root / "LibriSpeech" / "dev-clean" / "7" / "3" / "7-3-0002.flac"
    good = flac.read_bytes()
    flac.write_bytes(good[:100])  # as if killed mid-file
    (root / "LibriSpeech" / "dev-clean" / ".done").unlink()
    download(root, "dev-clean", **kw)
    assert flac.read_bytes() == good


def test_wrong_md5(tmp_path):
    mirror, _ = make_archive(tmp_path)
    root = tmp_path / "data"
    with pytest.raises(ConpruneError, match=r"checksum mismatch .*re-run `conprune data download`"):
        download(root, "dev-clean", base_url=mirror.as_uri(), progress=False,
                 checksums={"dev-clean": "0" * 32})
    assert not (root / "dev-clean.tar.gz.part").exists()
    assert not (root / "LibriSpeech").exists()


def test_unknown_split_and_unsafe_member(tmp_path):
    with pytest.raises(ConpruneError, match=r"no known checksum for split 'dev-cleen'"):
        download(tmp_path, "dev-cleen", progress=False)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "evil.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    md5 = hashlib.md5((mirror / "evil.tar.gz").read_bytes()).hexdigest()
    with pytest.raises(ConpruneError, match=r"escapes"):
        download(tmp_path / "data", "evil", base_url=mirror.as_uri(), progress=False,
                 checksums={"evil": md5})
    assert not (tmp_path / "escaped.txt").exists()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one in-memory payload and honours ``Range: bytes=N-`` like OpenSLR does."""

    payload = b""

    def do_GET(self):
        start = int(self.headers.get("Range", "bytes=0-")[len("bytes="):].rstrip("-") or 0)
        body = self.payload[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_range_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy from the environment must not interfere
    mirror, md5 = make_archive(tmp_path)
    data = (mirror / "dev-clean.tar.gz").read_bytes()
    handler = type("Handler", (RangeHandler,), {"payload": data})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = tmp_path / "data"
        root.mkdir()
        (root / "dev-clean.tar.gz.part").write_bytes(data[:1000])
        download(root, "dev-clean", base_url=f"http://127.0.0.1:{server.server_port}/",
                 progress=False, checksums={"dev-clean": md5})
    finally:
        server.shutdown()
        server.server_close()
    assert (root / "dev-clean.tar.gz").read_bytes() == data
    assert (root / "LibriSpeech" / "dev-clean" / ".done").exists()


def test_the_lm_download_is_md5_checked_and_then_a_noop(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = gzip.compress(b"\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\tHELLO\n\n\\end\\\n")
    (mirror / "4-gram.arpa.gz").write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    root = tmp_path / "data"
    with pytest.raises(ConpruneError, match="checksum mismatch") as err:
        download_lm(root, base_url=mirror.as_uri(), progress=False, checksums={"4-gram.arpa.gz": "0" * 32})
    assert "\n" not in str(err.value) and not list((root / "lm").iterdir())  # the bad file is gone
    path = download_lm(root, base_url=mirror.as_uri(), progress=False, checksums={"4-gram.arpa.gz": md5})
    assert path == root / "lm" / "4-gram.arpa.gz" and lm_vocabulary(path) == ["HELLO"]
    (mirror / "4-gram.arpa.gz").unlink()  # a second call must not need the source
    assert download_lm(root, base_url=mirror.as_uri(), progress=False, checksums={"4-gram.arpa.gz": md5}) == path
    with pytest.raises(ConpruneError, match="no known checksum for LM file 'x.arpa'"):
        download_lm(root, "x.arpa", base_url=mirror.as_uri(), progress=False)
