"""Cepstral liftering and utterance CMN: the math, and that every path that makes features agrees."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from conprune.data.features import GlobalCMVN, LogMel, cepstral_smoother, front_end, load_audio
from conprune.data.manifest import read_manifest
from conprune.errors import ConpruneError
from conprune.inference.transcribe import Transcriber
from conprune.models.ctc import greedy_decode
from conprune.models.package import load_model, save_model
from conprune.stages.checkpoint_io import check_same_front_end


def test_smoother_is_a_projection_that_keeps_the_envelope_and_drops_harmonic_ripple():
    smoother = cepstral_smoother(80, 20)
    assert torch.allclose(smoother @ smoother, smoother, atol=1e-5)
    assert torch.allclose(cepstral_smoother(80, 80), torch.eye(80), atol=1e-5)
    bins = torch.arange(80, dtype=torch.float32)
    envelope = 3 * torch.exp(-((bins - 20) / 8) ** 2) + 2 * torch.exp(-((bins - 45) / 10) ** 2)
    ripple = 0.8 * torch.cos(2 * torch.pi * bins / 4)  # a 200 Hz voice's harmonics in the low bins
    smoothed = (envelope + ripple) @ smoother
    left = smoothed - envelope
    assert left[4:-4].abs().max() < 0.1  # ripple gone, formant peaks kept (away from the edge bins)
    assert left.std() < 0.15 * ripple.std()
    assert (smoothed - (envelope + ripple)).abs().max() > 0.6


def test_smoother_rejects_a_bad_size():
    with pytest.raises(ConpruneError, match="data.front_end.lifter=81"):
        cepstral_smoother(80, 81)


def test_utterance_cmn_zeroes_each_utterance_mean():
    feats = torch.randn(50, 80) * 2 + 7
    plain = GlobalCMVN(torch.zeros(80), torch.ones(80))(feats)
    centred = GlobalCMVN(torch.zeros(80), torch.ones(80), utterance_cmn=True)(feats)
    assert plain.mean(0).abs().min() > 5
    assert centred.mean(0).abs().max() < 1e-4
    assert torch.allclose(centred.std(0), plain.std(0), atol=1e-5)


def test_front_end_reads_old_and_new_cmvn_dicts():
    stats = {"mean": [0.0] * 80, "std": [1.0] * 80}
    logmel, norm = front_end(stats)
    assert logmel.smoother is None and not norm.utterance_cmn
    logmel, norm = front_end({**stats, "lifter": 20, "utterance_cmn": True})
    assert logmel.lifter == 20 and norm.utterance_cmn


@pytest.fixture()
def liftered(prepared_copy):
    """Prepared with explicit settings (not the stages', which may change), in its own copy."""
    return prepared_copy(front_end={"lifter": 20, "utterance_cmn": True})


def test_datamodule_features_and_stats_use_the_lifter(liftered):
    dm = liftered
    assert dm.cmvn_path.name == "cmvn-train-clean-100-lifter20.json"
    assert json.loads(dm.cmvn_path.read_text())["lifter"] == 20
    assert dm.front_end == {"lifter": 20, "utterance_cmn": True}
    dataset = dm._dataset("dev-clean", train=False)
    row = dataset.rows[0]
    expected = dm.cmvn(LogMel(lifter=20)(load_audio(row["path"])))
    assert torch.allclose(dataset[0]["features"], expected)
    assert dataset[0]["features"].mean(0).abs().max() < 1e-4


def test_model_file_carries_the_front_end_to_transcription(liftered, tmp_path, tiny_model):
    dm = liftered
    path = save_model(tmp_path / "model.pt", tiny_model(), dm.tokenizer.model_proto, dm.cmvn_settings())
    loaded, info = load_model(path)
    assert info["cmvn"]["lifter"] == 20 and info["cmvn"]["utterance_cmn"] is True
    row = read_manifest(dm.manifest_path("dev-clean"))[0]
    transcriber = Transcriber(loaded, info)
    assert torch.allclose(transcriber.cmvn(transcriber.features(row["path"])), dm._dataset("dev-clean", False)[0]["features"])


def test_transcriber_features_of_a_long_file_are_the_whole_file_features(liftered, tmp_path, tiny_model):
    """Past one chunk (60 s) the transcriber computes features in chunks: same features, same text."""
    dm = liftered
    path = save_model(tmp_path / "model.pt", tiny_model(), dm.tokenizer.model_proto, dm.cmvn_settings())
    transcriber = Transcriber(*load_model(path))
    rng = np.random.default_rng(0)
    audio = 0.1 * np.sin(np.arange(16000 * 61 + 37) * 0.05) + 0.01 * rng.standard_normal(16000 * 61 + 37)
    sf.write(tmp_path / "long.flac", audio.astype(np.float32), 16000, subtype="PCM_16")
    feats = transcriber.features(tmp_path / "long.flac")
    whole = transcriber.logmel(load_audio(tmp_path / "long.flac"))
    torch.testing.assert_close(feats, whole, rtol=0, atol=1e-5)
    with torch.inference_mode():
        log_probs = transcriber.log_probs(whole)
    expected = transcriber.tokenizer.decode(greedy_decode(log_probs[None], torch.tensor([log_probs.shape[0]]))[0])
    assert transcriber(tmp_path / "long.flac") == expected


def test_later_stage_refuses_other_front_end_settings():
    plain_data = SimpleNamespace(front_end={"lifter": 0, "utterance_cmn": False})
    trained = {"mean": [0.0], "std": [1.0], "lifter": 20, "utterance_cmn": True}
    with pytest.raises(ConpruneError, match=r"teacher.ckpt was trained with data.front_end.lifter=20, data.front_end.utterance_cmn=true"):
        check_same_front_end(trained, plain_data, "teacher.ckpt")
    check_same_front_end(trained, SimpleNamespace(front_end={"lifter": 20, "utterance_cmn": True}), "t.ckpt")
    check_same_front_end({"mean": [0.0], "std": [1.0]}, plain_data, "old.ckpt")  # older files: plain
