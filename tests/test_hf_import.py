"""`conprune import hf`: a transformers Parakeet/LASR CTC checkpoint directory becomes a conprune teacher
that computes what transformers computes (audio in, padded batch), prunes through the real prune stage
with the experiments/hf overlay, compacts exactly and exports to ONNX; bad input is one line and
writes nothing."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import EXPERIMENTS
from hf_checkpoints import FEATURES, cli, cli_error, edit_config, save_checkpoint, transcripts, transformers
from test_hf_blocks import PARAKEET

from conprune.cli import run_lightning
from conprune.data.features import front_end
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError
from conprune.inference.onnx_model import OnnxCTC
from conprune.interop import hf_import
from conprune.interop.hf_import import import_hf
from conprune.interop.hf_weights import to_hf
from conprune.measure.parity import onnx_parity
from conprune.models.config import PER_LAYER
from conprune.models.ctc import greedy_decode
from conprune.models.package import load_model
from conprune.stages.checkpoint_io import load_checkpoint, model_from_checkpoint
from conprune.stages.export import checkpoint_gates, compact_checkpoint

FAMILIES = ("parakeet", "lasr")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_corpus) -> dict[str, Path]:
    """A tiny saved checkpoint of each family whose tokenizer covers the tiny corpus."""
    texts = transcripts(tiny_corpus)
    return {family: save_checkpoint(family, tmp_path_factory.mktemp(family) / "hf", texts) for family in FAMILIES}


def utterances(corpus: Path) -> list[np.ndarray]:
    """Three corpus recordings of different lengths (float32, 16 kHz)."""
    waves = [sf.read(path, dtype="float32")[0] for path in sorted(corpus.rglob("*.flac"))[:8]]
    by_length = sorted(waves, key=len)
    return [by_length[-1], by_length[0], by_length[len(by_length) // 2]]


@pytest.mark.parametrize("family", FAMILIES)
def test_imported_model_file_transcribes_as_transformers_does(family, checkpoints, tiny_corpus, tmp_path, capsys):
    source, out = checkpoints[family], tmp_path / "teacher.pt"
    summary = cli(["import", "hf", str(source), "--out", str(out)], capsys)
    assert summary["parity"]["max_abs_log_prob"] <= 1e-4 and summary["parity"]["greedy_identical"]
    model, info = load_model(out)
    assert info["tokenizer"] == (source / "tokenizer.json").read_bytes() == Path(summary["tokenizer"]).read_bytes()
    assert info["cmvn"]["kind"] == family and info["meta"]["model_type"] == f"{family}_ctc"
    assert info["meta"]["transformers_version"] == transformers.__version__
    hf = transformers.AutoModelForCTC.from_pretrained(source).eval()
    processor = transformers.AutoProcessor.from_pretrained(source)
    waves = utterances(tiny_corpus)
    batch = processor.feature_extractor(waves, sampling_rate=16000, return_attention_mask=True, return_tensors="pt")
    logmel, norm = front_end(info["cmvn"])
    feats = [norm(logmel(torch.from_numpy(w))) for w in waves]
    with torch.no_grad():
        theirs = hf(input_features=batch.input_features, attention_mask=batch.attention_mask).logits.log_softmax(-1)
        their_text = processor.tokenizer.batch_decode(hf.generate(**batch), skip_special_tokens=True)
        ours = model(torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), torch.tensor([len(f) for f in feats]))
    tokenizer = Tokenizer(model_proto=info["tokenizer"])
    order = tokenizer.hf.to_ctc_order()
    for b, n in enumerate(ours.lengths.tolist()):
        assert (theirs[b, :n, order] - ours.log_probs[b, :n]).abs().max() <= 1e-4
    our_text = [tokenizer.decode(ids) for ids in greedy_decode(ours.log_probs, ours.lengths)]
    assert [t.lower() for t in our_text] == [t.lower() for t in their_text] and any(our_text)


def test_imported_teacher_prunes_compacts_exactly_and_exports_to_onnx(checkpoints, stage_args, prepared_corpus,
                                                                      tmp_path, capsys):
    """The real prune stage on the tiny corpus with experiments/hf/parakeet.yaml (paths and sizes
    overridden for the tiny teacher), then compaction == the gated student, ONNX parity, and the
    pruned model refused by the hf export in one line."""
    teacher = tmp_path / "teacher.pt"
    summary = import_hf(str(checkpoints["parakeet"]), teacher)
    out = tmp_path / "run"
    run_lightning(stage_args(
        "prune", out, "--config", str(EXPERIMENTS / "hf" / "parakeet.yaml"),
        "--model.init_args.teacher_ckpt", str(teacher), "--data.tokenizer", summary["tokenizer"],
        "--data.num_pieces", str(summary["vocab_size"] - 1), "--data.front_end.feature_size", str(FEATURES["parakeet"]),
        "--data.batching.max_frames", "800", "--trainer.max_steps", "4", "--trainer.val_check_interval", "4",
        "--model.init_args.target.sparsity", "0.4",
        "--trainer.callbacks", "[{class_path: conprune.lit.callbacks.SparsityRamp, init_args: {ramp_steps: 2}}]",
        "--trainer.callbacks+", "{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: "
        f"{{dirpath: {out / 'ckpt'}, filename: last}}}}"))
    ckpt_path = out / "ckpt" / "last.ckpt"
    student_path = tmp_path / "student.pt"
    compact_checkpoint(ckpt_path, student_path)
    student, info = load_model(student_path)
    ckpt = load_checkpoint(ckpt_path)
    dense = model_from_checkpoint(ckpt, ckpt_path).eval()
    gates = checkpoint_gates(ckpt, dense, ckpt_path)
    assert student.count_params() < 0.7 * dense.count_params() and info["cmvn"]["kind"] == "parakeet"
    x = torch.randn(3, 160, FEATURES["parakeet"], generator=torch.Generator().manual_seed(3))
    lengths = torch.tensor([160, 111, 67])
    x = x * (torch.arange(160)[None, :, None] < lengths[:, None, None])
    with torch.no_grad():
        gated, compacted = dense(x, lengths, gates=gates), student(x, lengths)
    assert torch.equal(gated.lengths, compacted.lengths)
    for b, n in enumerate(gated.lengths.tolist()):
        assert (gated.log_probs[b, :n] - compacted.log_probs[b, :n]).abs().max() <= 1e-5

    onnx = tmp_path / "student.onnx"
    cli(["export", str(student_path), "--format", "onnx", "--out", str(onnx)], capsys)
    rows = [json.loads(line) for line in prepared_corpus.manifest_path("dev-clean").read_text().splitlines()]
    parity = onnx_parity(student, info, OnnxCTC(onnx), rows)
    assert parity["max_abs_log_prob"] <= 1e-4 and parity["transcripts_identical"]

    config = student.config
    assert any(len(set(getattr(config, f))) > 1 or 0 in getattr(config, f) for f in PER_LAYER)
    with pytest.raises(ConpruneError):
        to_hf(config, student.state_dict())
    error = cli_error(["export", str(student_path), "--format", "hf", "--out", str(tmp_path / "hf")], capsys)
    assert re.search(r"model config field '\w+' is \[.*--format onnx, which carry per-layer sizes", error)
    assert not (tmp_path / "hf").exists() and not list(tmp_path.glob(".hf.tmp-*"))


def test_bad_checkpoints_are_one_line_errors_and_write_nothing(checkpoints, tmp_path, capsys, monkeypatch):
    source = checkpoints["parakeet"]

    def copy(name: str, edit) -> Path:
        directory = Path(shutil.copytree(source, tmp_path / name))
        edit(directory)
        return directory

    rnnt = tmp_path / "rnnt"
    config = transformers.ParakeetRNNTConfig(vocab_size=13, encoder_config=PARAKEET, decoder_hidden_size=8)
    transformers.ParakeetForRNNT(config).save_pretrained(rnnt)
    unrelated = copy("bert", lambda d: (d / "config.json").write_text(json.dumps({"model_type": "bert"})))
    cases = {
        r"only CTC heads; \S+ is a parakeet_rnnt \(transducer\) checkpoint": rnnt,
        r"unsupported architecture bert; supported: lasr_ctc, parakeet_ctc": unrelated,
        r"config.json: transformers config field 'hidden_act' is 'tanh'": copy("tanh", lambda d: edit_config(
            d, hidden_act="tanh")),
        r"has no tokenizer \(tokenizer.json\)": copy("untokenized", lambda d: [
            (d / name).unlink() for name in ("tokenizer.json", "tokenizer_config.json")]),
        r"not a transformers checkpoint \(no config.json\)": copy("bare", lambda d: (d / "config.json").unlink()),
        r"has no preprocessor_config.json": copy("no-features", lambda d: (d / "preprocessor_config.json").unlink()),
        r"the tokenizer has \d+ tokens but the CTC head has 500 rows": copy("vocab", lambda d: edit_config(
            d, top=True, vocab_size=500)),
    }
    out = tmp_path / "out" / "teacher.pt"
    for pattern, directory in cases.items():
        assert re.search(pattern, cli_error(["import", "hf", str(directory), "--out", str(out)], capsys)), pattern
        assert not out.parent.exists() or not list(out.parent.iterdir())
    real = hf_import.parity
    monkeypatch.setattr(hf_import, "parity", lambda *args: real(*args)._replace(max_abs_log_prob=0.5))
    error = cli_error(["import", "hf", str(source), "--out", str(out)], capsys)
    assert "max |log-prob difference| 0.5, bound 0.001); nothing was written" in error
    assert not out.parent.exists() or not list(out.parent.iterdir())
    monkeypatch.setitem(sys.modules, "transformers", None)
    error = cli_error(["import", "hf", str(source), "--out", str(out)], capsys)
    assert "pip install 'conprune[hf]'" in error and not out.exists()

