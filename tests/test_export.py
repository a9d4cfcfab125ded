"""Export: the model traces with `torch.export` for any length, the ONNX file describes itself,
matches PyTorch on real utterances, transcribes, and a file without its metadata is refused."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch

from conprune.cli import main
from conprune.errors import ConpruneError
from conprune.inference.onnx_model import OnnxCTC, export_onnx, load_any, read_metadata, traced_program
from conprune.inference.transcribe import Transcriber
from conprune.measure.parity import onnx_parity
from conprune.models.package import load_model


@pytest.mark.parametrize("factor", [4, 8])
def test_torch_export_traces_any_length_and_padding(tiny_model, factor: int) -> None:
    model = tiny_model(subsampling_factor=factor).eval()
    program, fewest = traced_program(model, model.config, (torch.randn(2, 80, 80), torch.tensor([80, 50])), 10_000)
    assert fewest <= 12 * factor // 4
    x, lengths = torch.randn(3, 133, 80), torch.tensor([133, 61, fewest])
    with torch.no_grad():
        ours, traced = model(x, lengths), program.module()(x, lengths)
    assert torch.allclose(ours.log_probs, traced.log_probs, atol=1e-5)
    assert torch.equal(ours.lengths, traced.lengths)


def test_onnx_export_parity_metadata_and_transcription(compact_student: Path, prepared_corpus, tmp_path) -> None:
    out = tmp_path / "student.onnx"
    main(["export", "--format", "onnx", str(compact_student), "--out", str(out)])
    meta = read_metadata(out)
    model, info = load_model(compact_student)
    assert meta["tokenizer"] == info["tokenizer"] and meta["cmvn"] == info["cmvn"]
    assert meta["config"] == model.config.to_dict()
    rows = [json.loads(line) for line in prepared_corpus.manifest_path("dev-clean").read_text().splitlines()]
    parity = onnx_parity(model, info, OnnxCTC(out), rows)
    assert parity["max_abs_log_prob"] <= 1e-4 and parity["transcripts_identical"] and parity["utterances"] == len(rows)
    exported, _ = load_any(out)
    path = rows[0]["path"]
    assert Transcriber(*load_any(out))(path) == Transcriber(model, info)(path)
    assert exported.config == model.config


def test_onnx_without_metadata_is_refused(compact_student: Path, tmp_path) -> None:
    out = export_onnx(*load_model(compact_student), tmp_path / "m.onnx")
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(ConpruneError, match=r"bare.onnx has no conprune metadata .*conprune export --format onnx"):
        OnnxCTC(tmp_path / "bare.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ConpruneError, match="junk.onnx: not a loadable ONNX model"):
        OnnxCTC(tmp_path / "junk.onnx")
