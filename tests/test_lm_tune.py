"""`conprune tune-lm` chooses LM weights on dev only and stores them in the model file (a .pt copy or
an ONNX file's metadata), where `--decoder beam` takes them as defaults; `evaluate` with an LM
reports the search time per audio second and emits LM words only."""

from __future__ import annotations

import json
import logging

import onnx
import pytest
from conftest import WORDS
from lm_files import write_arpa
from onnx import TensorProto, helper

from conprune.cli import main
from conprune.errors import ConpruneError
from conprune.inference.decoder_meta import file_sha256, resolve, write_decoder
from conprune.inference.lm_decoder import DEFAULT_BEAM, BeamSettings
from conprune.inference.onnx_model import read_metadata
from conprune.models.package import load_model

pytest.importorskip("flashlight.lib.text.decoder")


@pytest.fixture()
def arpa(tmp_path):
    return write_arpa(tmp_path / "words.arpa", {w: -1.5 for w in WORDS}, {("THE", "QUICK"): -0.2, ("QUICK", "BROWN"): -0.2})


def test_tune_lm_picks_on_dev_and_the_copy_carries_the_choice(compact_student, prepared_corpus, arpa, tmp_path, capsys):
    tuned, report = tmp_path / "tuned.pt", tmp_path / "grid.json"
    before = compact_student.read_bytes()
    main(["tune-lm", "--model", str(compact_student), "--lm", str(arpa), "--data-root", str(prepared_corpus.root),
          "--beam", "4", "--lm-weights", "0.5,1", "--word-scores", "0,1", "--out", str(tuned), "--report", str(report)])
    assert compact_student.read_bytes() == before  # --out: a copy, the model file is untouched
    grid = json.loads(report.read_text())["grid"]
    assert [(p["lm_weight"], p["word_score"]) for p in grid] == [(0.5, 0), (0.5, 1), (1, 0), (1, 1)]
    chosen = load_model(tuned)[1]["meta"]["decoder"]
    assert chosen["dev_wer"] == min(p["dev_wer"] for p in grid) and chosen["tuned_on"] == ["dev-clean", "dev-other"]
    assert chosen["lm"] == str(arpa) and chosen["lm_sha256"] == file_sha256(arpa) and chosen["beam"] == 4
    assert "dense_config" in load_model(tuned)[1]["meta"]  # the rest of the meta is kept
    assert '"lm_weight"' in capsys.readouterr().out


def test_tune_lm_refuses_test_splits(compact_student, prepared_corpus, arpa):
    with pytest.raises(SystemExit) as done:
        main(["tune-lm", "--model", str(compact_student), "--lm", str(arpa), "--data-root", str(prepared_corpus.root),
              "--splits", "dev-clean,test-clean"])
    assert done.value.code == 2


def test_tuned_settings_are_defaults_only_for_the_lm_they_were_tuned_with(arpa, tmp_path, caplog):
    entry = {"decoder": "beam", "lm": str(arpa), "lm_sha256": file_sha256(arpa), "beam": 7, "lm_weight": 0.4,
             "word_score": 1.5}
    info = {"meta": {"decoder": entry}}
    assert resolve(info, "beam", None, {}) == (str(arpa), BeamSettings(beam=7, lm_weight=0.4, word_score=1.5))
    assert resolve(info, None, None, {}) is None  # greedy unless asked for
    assert resolve(info, "beam", None, {"word_score": 0.0})[1].word_score == 0.0
    other = write_arpa(tmp_path / "other.arpa", {"A": -1.0}, {("A", "A"): -1.0})
    with caplog.at_level(logging.WARNING):
        assert resolve(info, None, str(other), {}) == (str(other), BeamSettings())
    assert "not the one the model's decoder settings were tuned with" in caplog.text
    arpa.unlink()
    with pytest.raises(ConpruneError, match="tuned with LM file .* which is not there"):
        resolve(info, "beam", None, {})
    assert resolve({}, "beam", None, {}) == (None, BeamSettings(beam=DEFAULT_BEAM))


def test_an_onnx_file_carries_the_settings_in_its_metadata(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    for key, value in {"conprune_format": "conprune-onnx-1", "conprune_config": "{}", "conprune_tokenizer": "",
                       "conprune_cmvn": "{}", "conprune_decoder": json.dumps({"beam": 1})}.items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    write_decoder(path, {"beam": 9, "lm_weight": 0.5})
    assert read_metadata(path)["meta"] == {"format": "onnx", "decoder": {"beam": 9, "lm_weight": 0.5}}
    assert sum(p.key == "conprune_decoder" for p in onnx.load(str(path)).metadata_props) == 1


def test_evaluate_with_an_lm_emits_lm_words_and_times_the_search(compact_student, prepared_corpus, arpa, tmp_path):
    out, predictions = tmp_path / "results.json", tmp_path / "predictions"
    main(["evaluate", "--model", str(compact_student), "--data-root", str(prepared_corpus.root), "--splits",
          "dev-clean", "--out", str(out), "--repeats", "1", "--lm", str(arpa), "--beam", "4",
          "--predictions", str(predictions)])
    decoded = json.loads(out.read_text())["decoder"]
    assert decoded["search"] == "lexicon" and decoded["beam"] == 4 and decoded["search_s_per_audio_s"] > 0
    hyps = [json.loads(line)["hyp"] for line in (predictions / "predictions-dev-clean.jsonl").read_text().splitlines()]
    assert {w for h in hyps for w in h.split()} <= set(WORDS)
