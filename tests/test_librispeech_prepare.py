"""`prepare`: LibriSpeech layout -> sorted JSONL manifests, bad utterances skipped and listed."""

import logging

import numpy as np
import pytest
import soundfile as sf

from conprune.data.librispeech import expand_splits, find_corpus_dir, prepare
from conprune.data.manifest import read_manifest
from conprune.errors import ConpruneError


def write_flac(path, num_samples, sample_rate=16000, seed=0):
    t = np.arange(num_samples) / sample_rate
    noise = np.random.default_rng(seed).normal(0, 0.01, num_samples)
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t) + noise).astype("float32"), sample_rate,
             format="FLAC")


def make_chapter(corpus, split, spk, chap, n, first_len=1600):
    """Write n utterances with lengths first_len, first_len+160, ... and their transcript."""
    d = corpus / split / spk / chap
    d.mkdir(parents=True)
    lines = []
    for i in range(n):
        utt = f"{spk}-{chap}-{i:04d}"
        write_flac(d / f"{utt}.flac", first_len + 160 * i, seed=i)
        lines.append(f"{utt} WORD {spk} {i}")
    (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture
def corpus(tmp_path):
    corpus = tmp_path / "LibriSpeech"
    # speaker names whose string order differs from naive per-directory order: 100 < 1001 < 11
    for spk, chap in [("11", "5"), ("100", "10"), ("100", "1"), ("1001", "7")]:
        make_chapter(corpus, "dev-clean", spk, chap, 3)
    (corpus / "train-clean-100").mkdir()
    return corpus


def test_expand_splits():
    assert expand_splits("train-960") == ["train-clean-100", "train-clean-360", "train-other-500"]
    assert expand_splits(["dev-clean,test-clean", "dev-clean", "my-split"]) == [
        "dev-clean", "test-clean", "my-split"]


def test_prepare_tiny_corpus(corpus, tmp_path):
    stats = prepare(tmp_path, ["dev-clean"], progress=False)["dev-clean"]
    rows = read_manifest(tmp_path / "manifests" / "dev-clean.jsonl")
    ids = [r["id"] for r in rows]
    assert len(rows) == stats["utterances"] == 12
    assert ids == sorted(ids)
    row = next(r for r in rows if r["id"] == "100-10-0002")
    assert row["text"] == "WORD 100 2" and row["speaker"] == "100"
    assert row["num_samples"] == 1600 + 2 * 160 and row["sample_rate"] == 16000
    assert row["path"] == str(corpus / "dev-clean" / "100" / "10" / "100-10-0002.flac")
    assert stats["skipped"] == {} and stats["resampled"] == 0
    assert stats["hours"] == pytest.approx(4 * (1600 + 1760 + 1920) / 16000 / 3600)
    tsv = (tmp_path / "manifests" / "dev-clean.skipped.tsv").read_text()
    assert tsv == "id\tpath\treason\n"


def test_serial_and_pool_agree_and_root_may_be_corpus_dir(corpus, tmp_path):
    prepare(tmp_path, "dev-clean", out_dir=tmp_path / "a", workers=2, progress=False)
    prepare(corpus, "dev-clean", out_dir=tmp_path / "b", workers=1, progress=False)
    assert read_manifest(tmp_path / "a" / "dev-clean.jsonl") == read_manifest(
        tmp_path / "b" / "dev-clean.jsonl")
    assert find_corpus_dir(corpus) == find_corpus_dir(tmp_path) == corpus


def test_bad_utterances_are_skipped_and_listed(corpus, tmp_path, caplog):
    d = corpus / "dev-clean" / "100" / "10"
    (d / "100-10-0000.flac").write_bytes(np.random.default_rng(1).bytes(3000))  # corrupt
    (d / "100-10-0001.flac").write_bytes(b"")  # zero-length
    write_flac(d / "100-10-0007.flac", 800)  # no transcript line
    with open(d / "100-10.trans.txt", "a") as f:
        f.write("100-10-0009 NO AUDIO FOR THIS LINE\n")
    write_flac(corpus / "dev-clean" / "11" / "5" / "11-5-0001.flac", 4000, sample_rate=8000)
    with caplog.at_level(logging.WARNING):
        stats = prepare(tmp_path, ["dev-clean"], progress=False)["dev-clean"]
    assert stats["skipped"] == {"corrupt_audio": 1, "empty_audio": 1, "no_transcript": 1,
                                "no_audio": 1}
    assert stats["utterances"] == 12 - 2
    assert stats["resampled"] == 1
    rows = {r["id"]: r for r in read_manifest(tmp_path / "manifests" / "dev-clean.jsonl")}
    assert rows["11-5-0001"]["sample_rate"] == 8000 and rows["11-5-0001"]["num_samples"] == 4000
    lines = (tmp_path / "manifests" / "dev-clean.skipped.tsv").read_text().splitlines()
    reasons = {line.split("\t")[0]: line.split("\t")[2] for line in lines[1:]}
    assert reasons == {"100-10-0000": "corrupt_audio", "100-10-0001": "empty_audio",
                       "100-10-0007": "no_transcript", "100-10-0009": "no_audio"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("dev-clean: skipped 4 utterances" in m for m in messages)
    assert any("1 utterances are not 16000 Hz" in m for m in messages)


def test_empty_split(corpus, tmp_path):
    with pytest.raises(ConpruneError, match=r"train-clean-100 has no usable utterances"):
        prepare(tmp_path, ["train-clean-100"], progress=False)
    assert not (tmp_path / "manifests" / "train-clean-100.jsonl").exists()


def test_missing_root(tmp_path):
    with pytest.raises(ConpruneError, match=r"does not exist: pass --data.root .*data synth") as e:
        prepare(tmp_path / "nowhere", ["dev-clean"], progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(ConpruneError, match=r"has no LibriSpeech/ directory"):
        find_corpus_dir(tmp_path)


def test_unknown_split(corpus, tmp_path):
    with pytest.raises(ConpruneError, match=r"split 'dev-cleen' not found .*\(splits there: "
                                            r"dev-clean, train-clean-100\)"):
        prepare(tmp_path, ["dev-cleen"], progress=False)
