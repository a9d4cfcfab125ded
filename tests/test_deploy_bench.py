"""The deployment bench on the tiny model: every variant timed against the teacher, parity of the
export, int8 files that keep the metadata, WER of each student variant; the long-audio pieces."""

from __future__ import annotations

import json

import pytest

from conprune.inference.onnx_model import load_any, read_metadata
from conprune.inference.transcribe import Transcriber
from conprune.measure.deploy_bench import deploy_bench
from conprune.measure.long_audio import concatenate, long_audio_bench, windowing_wer_cost
from conprune.report.bench_table import bench_table, deploy_table


def test_deploy_bench(teacher_ckpt, compact_student, prepared_corpus, tmp_path) -> None:
    results = deploy_bench(str(teacher_ckpt), str(compact_student), str(prepared_corpus.root), tmp_path,
                           seconds=1.0, repeats=1, batches=(1, 2))
    assert set(results["latency_b1"]) == {"teacher_eager", "student_eager", "teacher_ort", "student_ort",
                                          "teacher_int8_static_ort", "teacher_int8_dynamic_ort",
                                          "student_int8_static_ort", "student_int8_dynamic_ort"}
    assert results["latency_b1"]["teacher_eager"] == 1.0 and results["onnx_parity_max_abs"] <= 1e-4
    assert results["onnx_transcripts_identical"] and results["onnx_int8_mode"] in ("static", "dynamic")
    assert results["bytes"]["student_int8_static"] < results["bytes"]["student"]
    assert read_metadata(tmp_path / "student.int8-static.onnx")["config"] == read_metadata(tmp_path / "student.onnx")["config"]
    assert set(results["test_wer"]) == {"student", "student_int8_static", "student_int8_dynamic"}
    table = deploy_table(results)
    assert table.count("\n| ") == 9 and "student, ONNX Runtime int8 static" in table
    assert "student int8 WER ÷ student fp32 WER" in bench_table(results)


def test_windowing_wer_cost_and_concatenation(compact_student, prepared_corpus, tmp_path) -> None:
    rows = [json.loads(line) for line in prepared_corpus.manifest_path("dev-clean").read_text().splitlines()]
    path, text = concatenate(rows, 0.05, tmp_path / "three.flac")
    assert path.is_file() and text.split()[: len(rows[0]["text"].split())] == rows[0]["text"].split()
    transcriber = Transcriber(*load_any(compact_student), window_s=1.0, overlap_s=0.2)
    cost = windowing_wer_cost(transcriber, [(path, text)])
    assert cost["recordings"] == 1 and cost["windowing_wer_delta"] == pytest.approx(
        cost["windowed_wer"] - cost["whole_wer"]) and transcriber.window == 100


@pytest.mark.slow
def test_long_audio_bench(compact_student, prepared_corpus, tmp_path) -> None:
    results = long_audio_bench(compact_student, prepared_corpus.root, tmp_path)
    assert results["long_audio_time_ratio"] > 1 and 0 < results["long_audio_peak_gb"] < 4
