"""`conprune export MODEL --format hf --out DIR`: an imported teacher goes back to a directory that
transformers loads (model, AutoTokenizer, AutoProcessor) with the same logits as the checkpoint it
came from; conprune's own SentencePiece vocabulary becomes an equivalent tokenizers Unigram; what a
transformers family cannot hold is refused in one line and nothing is written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import EXPERIMENTS
from hf_checkpoints import cli, cli_error, save_checkpoint, transcripts, transformers

from conprune.interop.hf_import import import_hf
from conprune.interop.hf_parity import CLASSES, parity_waveforms
from conprune.interop.hf_weights import to_hf
from conprune.models.config import build_config
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model

FAMILIES = ("parakeet", "lasr")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


@pytest.fixture(scope="module")
def imported(tmp_path_factory, tiny_corpus) -> dict[str, tuple[Path, Path]]:
    """(saved transformers checkpoint, its imported conprune model file) of each family."""
    texts, pairs = transcripts(tiny_corpus), {}
    for family in FAMILIES:
        root = tmp_path_factory.mktemp(family)
        source = save_checkpoint(family, root / "hf", texts)
        import_hf(str(source), root / "teacher.pt")
        pairs[family] = (source, root / "teacher.pt")
    return pairs


def logits(directory: Path, waves: list[np.ndarray]) -> torch.Tensor:
    """transformers' logits of `waves` (a padded batch) from a checkpoint directory, as a user runs it."""
    model = transformers.AutoModelForCTC.from_pretrained(directory).eval()
    processor = transformers.AutoProcessor.from_pretrained(directory)
    batch = processor.feature_extractor(waves, sampling_rate=16000, return_attention_mask=True, return_tensors="pt")
    with torch.no_grad():
        return model(input_features=batch.input_features, attention_mask=batch.attention_mask).logits


@pytest.mark.parametrize("family", FAMILIES)
def test_export_loads_in_transformers_with_the_original_logits(family, imported, tmp_path, capsys):
    source, teacher = imported[family]
    out = tmp_path / "exported"
    summary = cli(["export", str(teacher), "--format", "hf", "--out", str(out)], capsys)
    assert summary["parity"]["max_abs_log_prob"] <= 1e-4 and summary["parity"]["greedy_identical"]
    assert summary["model_type"] == f"{family}_ctc" and not list(tmp_path.glob(".exported.tmp-*"))
    waves = parity_waveforms(seed=5)
    assert torch.equal(logits(out, waves), logits(source, waves))
    processor = transformers.AutoProcessor.from_pretrained(out)
    original = transformers.AutoTokenizer.from_pretrained(source)
    assert type(processor).__name__ == CLASSES[family][3]
    assert type(processor.tokenizer).__name__ == CLASSES[family][2]
    assert processor.tokenizer.get_vocab() == original.get_vocab()
    assert processor.tokenizer.pad_token_id == original.pad_token_id
    again = tmp_path / "again.pt"
    import_hf(str(out), again)  # the exported directory imports back to the same tensors
    first, second = load_model(teacher)[0].state_dict(), load_model(again)[0].state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_sentencepiece_vocabulary_exports_as_an_equivalent_unigram_tokenizer(imported, prepared_corpus, tmp_path,
                                                                           capsys):
    """A Parakeet-family model trained with conprune's own tokenizer: transformers id = conprune id - 1,
    the blank last; every transcript encodes to the same pieces. With conprune's log-mel front end
    (global CMVN) the same model is refused."""
    teacher, info = load_model(imported["parakeet"][1])
    sp = prepared_corpus.tokenizer
    model = ConformerCTC(teacher.config.replace(vocab_size=sp.vocab_size))
    state = teacher.state_dict()
    g = torch.Generator().manual_seed(4)
    state["head.weight"] = 1.5 * torch.randn(sp.vocab_size, teacher.config.d_model, generator=g) / math.sqrt(
        teacher.config.d_model)
    state["head.bias"] = 0.2 * torch.randn(sp.vocab_size, generator=g)
    model.load_state_dict(state, strict=True)
    path = save_model(tmp_path / "sp.pt", model, sp.model_proto, info["cmvn"])
    out = tmp_path / "sp-hf"
    summary = cli(["export", str(path), "--format", "hf", "--out", str(out)], capsys)
    assert summary["parity"]["max_abs_log_prob"] <= 1e-4
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == sp.vocab_size and tokenizer.pad_token_id == sp.vocab_size - 1
    for text in transcripts(prepared_corpus.root):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert [i + 1 for i in ids] == sp.encode(text)
        assert tokenizer.decode(ids, skip_special_tokens=True, group_tokens=False) == text

    logmel = save_model(tmp_path / "logmel.pt", model, sp.model_proto, prepared_corpus.cmvn_settings())
    error = cli_error(["export", str(logmel), "--format", "hf", "--out", str(tmp_path / "refused")], capsys)
    assert "log-mel front end with global CMVN" in error and "data.front_end.kind parakeet" in error
    assert not (tmp_path / "refused").exists()


def test_what_transformers_cannot_hold_is_refused_in_one_line(imported, compact_student, tmp_path, capsys):
    _, teacher = imported["lasr"]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    error = cli_error(["export", str(teacher), "--format", "hf", "--out", str(tmp_path / "taken")], capsys)
    assert "exists and is not an empty directory" in error
    error = cli_error(["export", str(compact_student), "--format", "hf", "--out", str(tmp_path / "plain")], capsys)
    assert "model config field 'pos_enc'" in error and "--format onnx" in error
    error = cli_error(["export", str(teacher), "--format", "hf"], capsys)
    assert "needs --out DIR" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_the_parakeet_teacher_overlay_is_a_model_transformers_builds_exactly():
    """experiments/hf/parakeet-teacher.yaml (the teacher of scripts/hf_roundtrip.sh) on the demo preset maps
    to a ParakeetForCTC that loads every tensor strictly, and trains on the parakeet front end."""
    overlay = yaml.safe_load((EXPERIMENTS / "hf" / "parakeet-teacher.yaml").read_text())
    init = overlay["model"]["init_args"]
    config = build_config(init["preset"], 65, init["model_overrides"])
    config_dict, state = to_hf(config, ConformerCTC(config).state_dict())
    model = transformers.ParakeetForCTC(transformers.ParakeetCTCConfig.from_dict(config_dict))
    model.load_state_dict(state, strict=True)
    assert config_dict["encoder_config"]["scale_input"] and config_dict["encoder_config"]["subsampling_factor"] == 4
    assert overlay["data"]["front_end"] == {"kind": "parakeet", "feature_size": 80, "lifter": 0, "utterance_cmn": False}
