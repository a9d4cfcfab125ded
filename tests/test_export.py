"""Export: the model traces with `torch.export` for any length, the ONNX file describes itself,
matches PyTorch on real utterances, transcribes, and a file without its metadata is refused."""

from __future__ import annotations

import json
import re
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


@pytest.mark.parametrize("opset", [23, pytest.param(20, marks=pytest.mark.slow)])
def test_onnx_opsets_match_pytorch_on_a_padded_batch(compact_student: Path, tmp_path, opset: int) -> None:
    """Opset 23 writes one Attention node per attention layer (its mask spans queries and keys) and
    one RotaryEmbedding node for its queries and one for its keys; both it and the older opset
    (plain ops) match PyTorch on a batch with padding."""
    model, info = load_model(compact_student)
    out = export_onnx(model, info, tmp_path / "m.onnx", opset=opset)
    nodes = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert model.config.pos_enc == "rope" and any(model.config.heads)
    attention_layers = sum(1 for h in model.config.heads if h) if opset >= 23 else 0
    assert nodes.count("Attention") == attention_layers and nodes.count("RotaryEmbedding") == 2 * attention_layers
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 157, model.config.input_dim), torch.tensor([157, 90, 40])
    with torch.no_grad():
        ours = model(x, lengths)
    theirs = OnnxCTC(out)(x, lengths)
    assert torch.equal(ours.lengths, theirs.lengths)
    for b, n in enumerate(ours.lengths.tolist()):
        assert torch.allclose(ours.log_probs[b, :n], theirs.log_probs[b, :n], atol=1e-4)


# Parakeet's and LASR's options (see test_model.py): rel_xl attention, the padded depthwise 8x and the
# conv1d front ends, input scaling, residual weights, a final norm, an even depthwise kernel.
FAMILIES = {"parakeet-like": {"pos_enc": "rel_xl", "subsampling": "dw_striding", "subsampling_factor": 8,
                              "subsampling_padded": True, "input_scale": 8.0, "attn_bias": False,
                              "ffn_bias": False, "conv_bias": False},
            "lasr-like": {"subsampling": "conv1d", "subsampling_kernel": 5, "rope_theta": 500.0, "norm_bias": False,
                          "ffn_residual": [1.5, 0.5], "conv_residual": [2.0, 1.0], "final_norm": True,
                          "conv_kernel": 6, "conv_padding": "same"}}


@pytest.mark.parametrize("name,opset", [("parakeet-like", 23), ("lasr-like", 23),
                                        pytest.param("parakeet-like", 20, marks=pytest.mark.slow)])
def test_onnx_export_of_family_options_matches_pytorch(tiny_model, tmp_path, name: str, opset: int) -> None:
    """Every family option exports with a dynamic batch and time axis: rel_xl's position scores
    ride in the Attention node's additive [B, H, T, T] mask at opset 23. ONNX Runtime matches
    PyTorch on a padded batch down to the fewest frames the file accepts."""
    model = tiny_model(**FAMILIES[name]).eval()
    for key, p in model.named_parameters():
        if "pos_bias" in key:
            torch.nn.init.normal_(p, std=0.5)
    info = {"tokenizer": b"spm", "cmvn": {"mean": [0.0] * 80, "std": [1.0] * 80}}
    out = export_onnx(model, info, tmp_path / "m.onnx", opset=opset)
    nodes = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert nodes.count("Attention") == (2 if opset >= 23 else 0)
    exported = OnnxCTC(out)
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 157, 80), torch.tensor([157, 90, exported.info["min_frames"]])
    with torch.no_grad():
        ours = model(x, lengths)
    theirs = exported(x, lengths)
    assert torch.equal(ours.lengths, theirs.lengths)
    for b, n in enumerate(ours.lengths.tolist()):
        assert torch.allclose(ours.log_probs[b, :n], theirs.log_probs[b, :n], atol=1e-4)


def test_quantize_command_writes_int8_with_metadata_and_refuses_bad_input(compact_student: Path, prepared_corpus,
                                                                          tmp_path, capsys) -> None:
    fp32 = export_onnx(*load_model(compact_student), tmp_path / "m.onnx")
    main(["quantize", str(fp32), "--mode", "dynamic"])
    int8 = tmp_path / "m.int8-dynamic.onnx"
    assert read_metadata(int8)["tokenizer"] == read_metadata(fp32)["tokenizer"]
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 120, 80), torch.tensor([120, 97])
    full, quant = OnnxCTC(fp32)(x, lengths), OnnxCTC(int8)(x, lengths)
    assert (full.log_probs.argmax(-1) == quant.log_probs.argmax(-1)).float().mean() > 0.8
    main(["quantize", str(fp32), "--mode", "static", "--data-root", str(prepared_corpus.root), "--utterances", "2",
          "--out", str(tmp_path / "s.onnx")])
    assert OnnxCTC(tmp_path / "s.onnx")(x, lengths).log_probs.shape == full.log_probs.shape
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    refusals = {"--mode static needs --data-root": [str(fp32), "--mode", "static"],
                "already int8 .*quantize the fp32 file": [str(int8), "--out", str(tmp_path / "twice.onnx")],
                "junk.onnx: not a loadable ONNX model": [str(tmp_path / "junk.onnx")]}
    for message, argv in refusals.items():
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(["quantize", *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err)
