"""Where users deploy: the pruned model on ONNX Runtime, fp32 and int8, against the teacher.

Every variant (teacher and student, PyTorch eager, ONNX Runtime fp32, ONNX Runtime int8 static
and dynamic) is timed interleaved in one process at batch 1 and batch 8 (`seconds` of audio per
utterance, `threads` CPU threads), and every ratio is to the teacher in fp32 PyTorch eager at the
same batch. The exported student is checked against PyTorch on a test split (largest log-prob
difference, identical greedy transcripts), and the int8 variants' WER is measured on the test
splits next to the fp32 student's, so a faster int8 file is only worth it when its WER holds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from conprune.data import layout
from conprune.data.manifest import read_manifest
from conprune.inference.onnx_model import OnnxCTC, export_onnx
from conprune.inference.quantize import MODES, calibration_batches, quantize_onnx
from conprune.measure.evaluate import evaluate
from conprune.measure.latency import example_batch, model_call, side_by_side
from conprune.measure.parity import onnx_parity
from conprune.models.package import load_model
from conprune.stages.checkpoint_io import load_ctc_model

log = logging.getLogger(__name__)
TEST = ("test-clean", "test-other")


def _pooled(results: dict, words: dict[str, int]) -> float:
    return sum(results["wer"][s] * words[s] for s in TEST) / sum(words[s] for s in TEST)


def deploy_bench(teacher: str, student: str, data_root: str, workdir: Path, threads: int = 1,
                 seconds: float = 10.0, repeats: int = 10, batches: tuple[int, ...] = (1, 8)) -> dict:
    """Every deployment number of `make bench` (see the module docstring); files go to `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    teacher_model, teacher_extra = load_ctc_model(teacher)
    student_model, student_info = load_model(student)
    teacher_info = {"tokenizer": teacher_extra["tokenizer"], "cmvn": teacher_extra["cmvn"]}
    files = {"teacher": export_onnx(teacher_model.eval(), teacher_info, workdir / "teacher.onnx"),
             "student": export_onnx(student_model, student_info, workdir / "student.onnx")}
    dev = read_manifest(layout.manifest_path(data_root, "dev-clean"))
    calibration = calibration_batches(student_info, dev)
    for name in ("teacher", "student"):
        for mode in MODES:
            files[f"{name}_int8_{mode}"] = quantize_onnx(files[name], workdir / f"{name}.int8-{mode}.onnx", mode,
                                                         calibration)
    torch.set_num_threads(threads)
    sessions = {name: OnnxCTC(path, threads) for name, path in files.items()}
    results: dict = {"deploy_threads": threads, "deploy_seconds": seconds,
                     "bytes": {name: path.stat().st_size for name, path in files.items()}}
    for batch in batches:
        feats, lengths = example_batch(seconds, batch, teacher_model.config.input_dim)
        calls = {"teacher_eager": model_call(teacher_model, feats, lengths),
                 "student_eager": model_call(student_model, feats, lengths),
                 **{f"{name}_ort": model_call(session, feats, lengths) for name, session in sessions.items()}}
        timed = side_by_side(calls, repeats=repeats)
        base = timed["teacher_eager"]["median_s"]
        results[f"latency_b{batch}"] = {name: t["median_s"] / base for name, t in timed.items()}
    test_rows = read_manifest(layout.manifest_path(data_root, "test-clean"))
    parity = onnx_parity(student_model, student_info, sessions["student"], test_rows)
    words = {s: sum(len(r["text"].split()) for r in read_manifest(layout.manifest_path(data_root, s))) for s in TEST}
    wer = {name: _pooled(evaluate(model, student_info, data_root, list(TEST), repeats=1), words)
           for name, model in (("student", student_model), ("student_int8_static", sessions["student_int8_static"]),
                               ("student_int8_dynamic", sessions["student_int8_dynamic"]))}
    b1 = results["latency_b1"]
    best = min(MODES, key=lambda mode: b1[f"student_int8_{mode}_ort"])
    results.update(onnx_parity_max_abs=parity["max_abs_log_prob"], onnx_transcripts_identical=parity["transcripts_identical"],
                   ort_latency_ratio=b1["student_ort"], onnx_int8_mode=best,
                   onnx_int8_latency_ratio=b1[f"student_int8_{best}_ort"], test_wer=wer,
                   int8_wer_ratio=wer[f"student_int8_{best}"] / wer["student"])
    return results
