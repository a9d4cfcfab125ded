"""`conprune evaluate`, `conprune transcribe` and the bench pieces on a tiny model and corpus."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conprune.cli import main
from conprune.data.manifest import read_manifest
from conprune.data.tokenizer import Tokenizer
from conprune.measure.bench import compact_vs_teacher, data_realtime_factor
from conprune.measure.latency import dense_vs_torchaudio
from conprune.models.config import ConformerConfig, build_config
from conprune.report.bench_table import bench_table
from conprune.stages.checkpoint_io import load_ctc_model
from conprune.stages.export import compact_command


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, prepared_corpus, teacher_ckpt):
    """(corpus root, model file, teacher checkpoint): the model file is the teacher's dense export
    (`conprune compact` of a teacher checkpoint), so both carry one tokenizer, CMVN and front end."""
    model_file = tmp_path_factory.mktemp("packaged") / "model.pt"
    compact_command(str(teacher_ckpt), str(model_file))
    return prepared_corpus.root, model_file, teacher_ckpt


def test_evaluate_writes_every_measure(packaged, tmp_path, capsys):
    root, model_file, _ = packaged
    out = tmp_path / "results.json"
    main(["evaluate", "--model", str(model_file), "--data-root", str(root), "--splits", "dev-clean,test-other",
          "--out", str(out), "--repeats", "2"])
    results = json.loads(out.read_text())
    assert set(results["wer"]) == {"dev-clean", "test-other"}
    assert all(w >= 0 for w in results["wer"].values())
    assert results["params"] == results["params_counted"] == results["dense_params"]
    assert results["macs_measured"] == pytest.approx(results["macs_per_utterance"], rel=0.01)
    assert results["latency_s"] > 0 and results["real_time_factor"] == pytest.approx(results["latency_s"] / 10)
    assert len(results["kept"]) == 2 and results["kept"][0]["heads"] == results["kept"][0]["heads_dense"]
    assert results["decoder"]["decoder"] == "greedy"
    assert "dev-clean: WER" in capsys.readouterr().out


def test_evaluate_accepts_a_checkpoint(packaged, tmp_path):
    root, model_file, ckpt = packaged
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main(["evaluate", "--model", str(model_file), "--data-root", str(root), "--splits", "dev-clean",
          "--out", str(a), "--repeats", "1"])
    main(["evaluate", "--ckpt", str(ckpt), "--data-root", str(root), "--splits", "dev-clean",
          "--out", str(b), "--repeats", "1"])
    assert json.loads(a.read_text())["wer"] == json.loads(b.read_text())["wer"]


def test_transcribe_any_rate_and_channels_and_reports_bad_files(packaged, tmp_path, capsys):
    root, model_file, _ = packaged
    row = read_manifest(root / "manifests" / "dev-clean.jsonl")[0]
    audio, sr = sf.read(row["path"], dtype="float32")
    sf.write(tmp_path / "stereo8k.wav", np.stack([audio[::2], audio[::2]], axis=1), sr // 2)
    (tmp_path / "corrupt.flac").write_bytes(b"not audio at all")
    sf.write(tmp_path / "short.wav", np.zeros(50, dtype=np.float32), 16000)
    files = [row["path"], str(tmp_path / "stereo8k.wav"), str(tmp_path / "corrupt.flac"),
             str(tmp_path / "missing.wav"), str(tmp_path / "short.wav")]
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--model", str(model_file), *files])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == files[:2]
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert "corrupt.flac" in errors[0] and "missing.wav" in errors[1] and "too short" in errors[2]


def test_transcribe_missing_model_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "--model", str(tmp_path / "nope.pt"), "a.flac"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bench_pieces(packaged):
    root, model_file, ckpt = packaged
    ratios = compact_vs_teacher(str(ckpt), str(model_file), "params50", 2.0, 3, "cpu", torch.float32)
    assert ratios["mac_ratio_params50"] == 1.0 and ratios["params_ratio_params50"] == 1.0
    assert ratios["latency_ratio_params50"] > 0
    cfg = ConformerConfig.from_dict({**build_config("tiny", 41, None).to_dict(), "head_dim": 16})
    assert dense_vs_torchaudio(cfg, seconds=1.0, repeats=2)["dense_vs_torchaudio_ratio"] > 0
    tokenizer = Tokenizer(model_proto=load_ctc_model(ckpt)[1]["tokenizer"])  # as bench takes it: from the teacher
    assert data_realtime_factor(str(root), tokenizer, utterances=4) > 1
    table = bench_table({"latency_ratio_params50": 0.5, "data_realtime_factor": 300.0, "date": "2026-11-26",
                         "machine": "test", "dtype": "float32", "seconds": 10.0})
    assert "| compact ÷ teacher latency, −50 % params | 0.50 |" in table and "300" in table


def test_conprune_bench_is_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "--params50" in capsys.readouterr().out


def test_bench_command_writes_results_and_prints_the_table(tmp_path, monkeypatch, capsys):
    """The CLI path of `conprune bench` (the measurement itself is tested above): JSON out, table printed."""
    from conprune.measure import bench

    measured = {"latency_ratio_params50": 0.55, "date": "2026-11-29", "machine": "test", "dtype": "float32",
                "seconds": 10.0}
    monkeypatch.setattr(bench, "run_bench", lambda *args, **kwargs: measured)
    main(["bench", "--out", str(tmp_path / "bench.json")])
    assert json.loads((tmp_path / "bench.json").read_text()) == measured
    assert "| compact ÷ teacher latency, −50 % params | 0.55 |" in capsys.readouterr().out
