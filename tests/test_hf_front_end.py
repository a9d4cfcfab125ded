"""Imported checkpoints' front ends (kind parakeet / lasr): parity with transformers' own extractors,
the stored settings, and every path that makes features (data module, evaluate, transcribe, ONNX)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from conprune.data.features import chunked_logmel, front_end, front_end_settings, load_audio
from conprune.data.hf_features import (
    LasrLogMel,
    ParakeetLogMel,
    UtteranceNorm,
    kaldi_mel_matrix,
    slaney_mel_matrix,
    stored_front_end,
)
from conprune.data.manifest import read_manifest
from conprune.errors import ConpruneError
from conprune.stages.checkpoint_io import check_same_front_end

transformers = pytest.importorskip("transformers")
LENGTHS = (16000 + 37, 8000 + 159, 24000 + 5)  # three lengths, none a whole number of hops


def waveforms(seed: int = 0) -> list[np.ndarray]:
    """Noisy tones of `LENGTHS` samples (mel bins far from flat, so normalisation matters)."""
    rng = np.random.default_rng(seed)
    out = []
    for n in LENGTHS:
        t = np.arange(n) / 16000
        out.append((0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(n)).astype(np.float32))
    return out


def extractor(kind: str, feature_size: int):
    if kind == "parakeet":
        return transformers.ParakeetFeatureExtractor(feature_size=feature_size)
    return transformers.LasrFeatureExtractor(feature_size=feature_size)


@pytest.mark.parametrize("kind", ["parakeet", "lasr"])
@pytest.mark.parametrize("feature_size", [80, 128])
def test_features_equal_transformers_padded_batch(kind: str, feature_size: int) -> None:
    """conprune per utterance == transformers on a padded batch: same valid frames, equal to 1e-4
    (measured: at most 6e-6 for parakeet, bit-exact for lasr), and parakeet's padding zeroed."""
    waves = waveforms()
    theirs = extractor(kind, feature_size)(waves, sampling_rate=16000, return_attention_mask=True, return_tensors="pt")
    logmel, norm = front_end(stored_front_end({"kind": kind, "feature_size": feature_size}))
    for i, wave in enumerate(waves):
        ours = norm(logmel(torch.from_numpy(wave)))
        valid = int(theirs.attention_mask[i].sum())
        assert ours.shape == (valid, feature_size) == (logmel.frames(len(wave)), feature_size)
        assert (ours - theirs.input_features[i, :valid]).abs().max() <= 1e-4
        if kind == "parakeet":
            assert not theirs.input_features[i, valid:].any()  # what collate's zero padding gives too


def test_mel_matrices_are_transformers_bit_for_bit() -> None:
    from transformers.audio_utils import mel_filter_bank
    from transformers.models.lasr.feature_extraction_lasr import linear_to_mel_weight_matrix

    for n in (80, 128):
        slaney = mel_filter_bank(num_frequency_bins=257, num_mel_filters=n, min_frequency=0.0, max_frequency=8000,
                                 sampling_rate=16000, norm="slaney", mel_scale="slaney", dtype=np.float32)
        assert np.array_equal(slaney_mel_matrix(512, n).numpy(), slaney.T)
        kaldi = linear_to_mel_weight_matrix(n, 257, 16000, 125.0, 7500.0, np.float64)
        assert np.array_equal(kaldi_mel_matrix(512, n).numpy(), kaldi)


@pytest.mark.parametrize("module", [ParakeetLogMel(), LasrLogMel()], ids=["parakeet", "lasr"])
@pytest.mark.parametrize("samples", [160 * 1000 + 1, 160 * 551 + 77, 160 * 49 + 3])
def test_chunked_features_equal_whole_file_features(module: torch.nn.Module, samples: int) -> None:
    torch.manual_seed(samples)
    wav = 0.1 * torch.randn(samples)
    whole = module(wav)
    assert whole.shape == (module.frames(samples), module.feature_size)
    torch.testing.assert_close(chunked_logmel(module, wav, chunk_frames=50), whole, rtol=0, atol=1e-5)


def test_utterance_norm_is_unbiased_and_survives_one_frame() -> None:
    feats = torch.randn(40, 80, dtype=torch.float64) * 3 + 5
    out = UtteranceNorm()(feats)
    assert out.mean(0).abs().max() < 1e-9
    torch.testing.assert_close(out.std(0), torch.full((80,), 1.0, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.isfinite(UtteranceNorm()(torch.randn(1, 80))).all()


def test_settings_defaults_storage_and_errors() -> None:
    assert front_end_settings({"kind": "lasr"}) == {"kind": "lasr", "feature_size": 128, "n_fft": 512,
                                                    "win_length": 400, "hop_length": 160, "preemphasis": 0.0}
    stored = stored_front_end({"kind": "parakeet", "feature_size": 128})
    assert stored["normalize"] == "per_feature" and stored["preemphasis"] == 0.97 and "mean" not in stored
    assert front_end_settings(json.loads(json.dumps(stored))) == front_end_settings(stored)
    assert front_end_settings({"mean": [0.0], "std": [1.0]}) == {"lifter": 0, "utterance_cmn": False}
    for bad, message in [({"kind": "whisper"}, "kind='whisper' is unknown"),
                         ({"kind": "parakeet", "lifter": 20}, "lifter applies to the logmel front end only"),
                         ({"kind": "parakeet", "hop_length": 256}, "hop_length=256"),
                         ({"kind": "lasr", "preemphasis": 0.97}, "preemphasis applies to kind parakeet only"),
                         ({"kind": "logmel", "feature_size": 128}, "feature_size=128 applies to kind parakeet"),
                         ({**stored, "normalize": "none"}, "normalises 'per_feature', not 'none'")]:
        with pytest.raises(ConpruneError, match=message):
            front_end_settings(bad)


def test_later_stage_compares_the_imported_front_end() -> None:
    teacher = stored_front_end({"kind": "parakeet", "feature_size": 128})
    same = SimpleNamespace(front_end=front_end_settings({"kind": "parakeet", "feature_size": 128}), cmvn=UtteranceNorm())
    check_same_front_end(teacher, same, "parakeet.pt")
    with pytest.raises(ConpruneError, match=r"parakeet.pt was trained with data.front_end.kind=parakeet, "
                                            r"data.front_end.feature_size=128"):
        check_same_front_end(teacher, SimpleNamespace(front_end=front_end_settings({"kind": "parakeet"})), "parakeet.pt")
    with pytest.raises(ConpruneError, match=r"data.front_end.kind=parakeet.* but this run's data has "
                                            r"data.front_end.lifter=0"):
        check_same_front_end(teacher, SimpleNamespace(front_end={"lifter": 0, "utterance_cmn": False}), "parakeet.pt")


@pytest.fixture()
def parakeet_data(prepared_copy):
    return prepared_copy(front_end={"kind": "parakeet"})


def test_datamodule_uses_the_imported_front_end_without_statistics(parakeet_data, tmp_path) -> None:
    dm = parakeet_data
    assert not dm.cmvn_path.exists()  # no CMVN statistics computed for a per-utterance normalisation
    assert dm.cmvn_settings() == stored_front_end({"kind": "parakeet"})
    dataset = dm._dataset("dev-clean", train=False)
    logmel, norm = front_end(dm.cmvn_settings())
    expected = norm(logmel(load_audio(dataset.rows[0]["path"])))
    assert torch.equal(dataset[0]["features"], expected)
    assert dataset.frame_lengths()[0] == expected.shape[0]
    (tmp_path / "teacher.json").write_text(json.dumps(stored_front_end({"kind": "parakeet", "feature_size": 128})))
    dm.hparams.cmvn = str(tmp_path / "teacher.json")
    with pytest.raises(ConpruneError, match=r"describes the front end .*data.front_end.feature_size=128"):
        dm.setup("fit")
    (tmp_path / "stats.json").write_text(json.dumps({"mean": [0.0] * 80, "std": [1.0] * 80}))
    dm.hparams.cmvn = str(tmp_path / "stats.json")
    with pytest.raises(ConpruneError, match="holds no parakeet front end.*unset data.cmvn"):
        dm.setup("fit")


def test_evaluate_transcribe_and_onnx_use_the_stored_front_end(parakeet_data, tiny_model, tmp_path) -> None:
    """A model whose stored front end is parakeet's: evaluate, transcribe and the exported ONNX model
    all compute its features (not log-mel + CMVN), and agree with each other."""
    from conprune.inference.onnx_model import export_onnx, load_any
    from conprune.inference.transcribe import Transcriber
    from conprune.measure.evaluate import transcribe_rows

    dm = parakeet_data
    model = tiny_model().eval()
    info = {"tokenizer": dm.tokenizer.model_proto, "cmvn": dm.cmvn_settings()}
    rows = read_manifest(dm.manifest_path("dev-clean"))
    transcriber = Transcriber(model, info)
    assert isinstance(transcriber.logmel, ParakeetLogMel) and isinstance(transcriber.cmvn, UtteranceNorm)
    assert torch.equal(transcriber.cmvn(transcriber.features(rows[0]["path"])), dm._dataset("dev-clean", False)[0]["features"])
    texts = [transcriber(r["path"]) for r in rows]
    assert transcribe_rows(model, info, rows) == texts
    exported = export_onnx(model, info, tmp_path / "m.onnx")
    onnx_model, onnx_info = load_any(exported)
    assert onnx_info["cmvn"] == info["cmvn"]
    assert [Transcriber(onnx_model, onnx_info)(r["path"]) for r in rows] == texts
    sf.write(tmp_path / "short.wav", np.zeros(300, dtype=np.float32), 16000)
    with pytest.raises(ConpruneError, match=r"short.wav: 300 samples .* too short .*needs \d+ or more"):
        transcriber(tmp_path / "short.wav")
