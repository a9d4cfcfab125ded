"""Log-mel front end (whole and in chunks), CMVN statistics and SpecAugment."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conprune.data.features import (
    FrequencyWarp,
    GlobalCMVN,
    LogMel,
    SpecAugment,
    chunked_logmel,
    compute_cmvn,
    load_audio,
    num_frames,
    read_cmvn,
    speed_perturb,
)
from conprune.errors import ConpruneError


def test_logmel_shape_matches_num_frames(tmp_path):
    wav = torch.randn(16000 * 2 + 123)
    feats = LogMel()(wav)
    assert feats.shape == (num_frames(wav.numel()), 80)
    assert torch.isfinite(feats).all()


@pytest.mark.parametrize("lifter", [0, 20])
@pytest.mark.parametrize("samples", [160 * 1000, 160 * 1000 + 1, 160 * 1000 + 159, 160 * 551 + 77, 160 * 49 + 3])
def test_chunked_logmel_equals_whole_file_logmel(samples, lifter):
    """Several chunks of 50 frames, lengths on and off the hop, a last chunk of one frame
    (551 frames + 1) and a file shorter than one chunk: every frame, the first and last included."""
    torch.manual_seed(samples)
    wav = 0.1 * torch.randn(samples)
    logmel = LogMel(lifter=lifter)
    whole = logmel(wav)
    chunked = chunked_logmel(logmel, wav, chunk_frames=50)
    assert chunked.shape == whole.shape == (num_frames(samples), 80)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


def test_load_audio_mono_is_the_files_samples(tmp_path):
    samples = (0.25 * np.sin(np.arange(4000) / 7)).astype(np.float32)
    sf.write(tmp_path / "mono.wav", samples, 16000, subtype="FLOAT")
    wav = load_audio(tmp_path / "mono.wav")
    assert wav.dtype == torch.float32 and wav.is_contiguous()
    assert torch.equal(wav, torch.from_numpy(samples))


def test_load_audio_downmixes_and_resamples(tmp_path):
    t = np.arange(8000) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 200 * t)], axis=1) * 0.5
    sf.write(tmp_path / "a.wav", stereo.astype(np.float32), 8000)
    wav = load_audio(tmp_path / "a.wav")
    assert wav.ndim == 1 and abs(wav.numel() - 16000) <= 1
    assert num_frames(8000, 8000) == num_frames(16000)


def test_load_audio_error_names_file(tmp_path):
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ConpruneError, match="bad.flac"):
        load_audio(bad)


def test_cmvn_normalises_to_zero_mean_unit_std(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.flac"
        sf.write(p, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
        paths.append(p)
    stats = compute_cmvn(paths)
    (tmp_path / "cmvn.json").write_text(json.dumps(stats))
    cmvn = GlobalCMVN.load(tmp_path / "cmvn.json")
    logmel = LogMel()
    feats = torch.cat([cmvn(logmel(load_audio(p))) for p in paths])
    assert feats.mean(0).abs().max() < 1e-3
    assert (feats.std(0, unbiased=False) - 1).abs().max() < 1e-2
    assert stats["utterances"] == 3


def test_cmvn_errors_are_clear(tmp_path):
    with pytest.raises(ConpruneError, match="not found"):
        read_cmvn(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConpruneError, match="not valid JSON"):
        read_cmvn(tmp_path / "bad.json")
    with pytest.raises(ConpruneError, match="no utterances"):
        compute_cmvn([])


def test_specaugment_masks_some_but_not_all():
    torch.manual_seed(0)
    feats = torch.randn(400, 80) + 5
    masked = SpecAugment(freq_masks=2, freq_width=10, time_masks=4, time_mask_ratio=0.05)(feats)
    zero = masked == 0
    assert masked.shape == feats.shape
    assert 0 < zero.float().mean() < 0.5


def test_frequency_warp_moves_energy_and_keeps_shape():
    torch.manual_seed(0)
    feats = torch.zeros(10, 80)
    feats[:, 40] = 1.0
    warp = FrequencyWarp(max_warp=0.2)
    peaks = {int(warp(feats).argmax(dim=1)[0]) for _ in range(20)}
    assert len(peaks) > 1 and all(30 <= p <= 52 for p in peaks)
    assert warp(feats).shape == feats.shape
    assert torch.equal(FrequencyWarp(0.0)(feats), feats)


def test_speed_perturb_changes_length_and_pitch():
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * torch.pi * 500 * t)
    fast = speed_perturb(tone, 1.25)
    assert abs(fast.numel() - 16000 / 1.25) <= 1
    peak = torch.fft.rfft(fast).abs().argmax().item() * 16000 / fast.numel()
    assert abs(peak - 625) < 5
    assert speed_perturb(tone, 1.0) is tone
