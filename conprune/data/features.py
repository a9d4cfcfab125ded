"""Acoustic front end: audio loading, 80-dim log-mel, global CMVN and SpecAugment.

Everything here runs in data-loader workers on the CPU, so it is plain torch/torchaudio and knows
nothing about the model. Audio is read with soundfile (bit-exact FLAC, no ffmpeg/torchcodec).
A model stores its front end in its `cmvn` dict: conprune's own log-mel (kind `logmel`, the
default: global CMVN statistics plus `lifter` and `utterance_cmn`) or an imported checkpoint's
(kind `parakeet` or `lasr`, `conprune.data.hf_features`); `front_end` builds either from that dict.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from conprune.data.hf_features import hf_front_end, hf_settings
from conprune.errors import ConpruneError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP_LENGTH = 160  # 10 ms
WIN_LENGTH = 400  # 25 ms
N_FFT = 512
NUM_MELS = 80


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read any soundfile-readable file as mono float32 at `sample_rate`.

    Stereo is downmixed by averaging channels; other sample rates are resampled, so a manifest
    may keep a file's native rate and the front end still sees 16 kHz.
    """
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise ConpruneError(f"cannot read audio file {path}: {exc}; re-run `conprune data prepare` "
                            "to skip unreadable files") from exc
    # Mono needs no averaging: a column view of soundfile's float32 buffer avoids a second copy
    # of the whole recording (230 MB an hour).
    wav = torch.from_numpy(np.ascontiguousarray(data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)))
    if sr != sample_rate:
        wav = torchaudio.functional.resample(wav, sr, sample_rate)
    return wav


def speed_perturb(wav: torch.Tensor, factor: float, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Play `wav` `factor` times faster (Kaldi speed perturbation: resample, keep the nominal rate).

    Factor 1.1 gives 1/1.1 of the samples with pitch and formants raised by 10 %.
    """
    if factor == 1.0:
        return wav
    return torchaudio.functional.resample(wav, round(sample_rate * factor), sample_rate)


def num_frames(num_samples: int, sample_rate: int = SAMPLE_RATE, extractor: torch.nn.Module | None = None) -> int:
    """Number of feature frames of an utterance, known without reading it: `extractor`'s (any
    front end's `frames`), by default the log-mel's (center=True framing)."""
    samples = num_samples if sample_rate == SAMPLE_RATE else round(num_samples * SAMPLE_RATE / sample_rate)
    return extractor.frames(samples) if extractor is not None else samples // HOP_LENGTH + 1


def cepstral_smoother(num_mels: int, keep: int) -> torch.Tensor:
    """[num_mels, num_mels] matrix that keeps the first `keep` DCT-II coefficients of a log-mel frame.

    `frame @ smoother` is the frame rebuilt from its low cepstral coefficients (liftering): the
    spectral envelope (formants) stays, the ripple of resolved pitch harmonics in the low mel bins
    goes. With 80 mels a 100 Hz voice's harmonics sit ~3 bins apart and a 200 Hz voice's ~6, which
    is DCT index ~25-50, so `keep` ~20 makes a low and a high voice look alike to the model.
    """
    if not 1 <= keep <= num_mels:
        raise ConpruneError(f"data.front_end.lifter={keep}: keep between 1 and {num_mels} cepstral coefficients "
                            "(0 switches liftering off)")
    index = torch.arange(num_mels, dtype=torch.float64)
    dct = torch.cos(torch.pi / num_mels * (index[None, :] + 0.5) * index[:, None]) * (2 / num_mels) ** 0.5
    dct[0] /= 2 ** 0.5  # orthonormal DCT-II: rows are an orthonormal basis
    return (dct[:keep].T @ dct[:keep]).float()


class LogMel(torch.nn.Module):
    """80-dim log-mel filterbank, 25 ms windows every 10 ms (the LibriSpeech standard).

    `lifter` > 0 smooths each frame to its first `lifter` cepstral coefficients
    (`cepstral_smoother`); 0 keeps the plain log-mel. Like every front end it has `feature_size`,
    `hop_length`, `frames(samples)` and `context` (samples read around a frame's position).
    """

    hop_length = HOP_LENGTH
    context = (N_FFT // 2, N_FFT // 2)

    def __init__(self, num_mels: int = NUM_MELS, lifter: int = 0) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH,
            n_mels=num_mels, power=2.0)
        self.feature_size = num_mels
        self.lifter = lifter
        self.smoother = cepstral_smoother(num_mels, lifter) if lifter else None

    def frames(self, num_samples: int) -> int:
        return num_samples // HOP_LENGTH + 1

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [samples] -> features [frames, num_mels]."""
        feats = torch.log(self.mel(wav) + 1e-6).transpose(0, 1)
        return feats @ self.smoother if self.smoother is not None else feats


def chunked_logmel(logmel: torch.nn.Module, wav: torch.Tensor, chunk_frames: int = 6000) -> torch.Tensor:
    """`logmel(wav)` of wav [samples] for any front end, computed `chunk_frames` frames (60 s) at a
    time: the same features [frames, feature_size], frame for frame.

    The whole-recording STFT of an hour holds the framed signal, its complex spectrum and power at
    once, gigabytes; here only one chunk's do. Each chunk is cut with the front end's `context`
    (half an FFT window for a centred STFT, rounded up to whole hops) of extra samples on either
    side, so every kept frame's window lies inside real samples and matches the whole-file frame;
    where a cut reaches the file's true start or end, the front end's own padding applies there, as
    it does for the whole file. Frames are written into one output tensor, so the result is never
    held twice.
    """
    hop = logmel.hop_length
    total = logmel.frames(wav.numel())
    if total <= chunk_frames:
        return logmel(wav)
    before, after = (-(-side // hop) * hop for side in logmel.context)  # rounded up to whole hops
    out = torch.empty(total, logmel.feature_size, dtype=torch.float32)
    for first in range(0, total, chunk_frames):
        last = min(first + chunk_frames, total)  # frames [first, last) of the whole recording
        start = max(0, first * hop - before)
        piece = logmel(wav[start:last * hop + after])
        skip = (first * hop - start) // hop
        out[first:last] = piece[skip:skip + last - first]
    return out


class GlobalCMVN(torch.nn.Module):
    """Global mean/variance normalisation with statistics computed once on the training data.

    With `utterance_cmn`, each utterance's own mean (per mel bin) is then subtracted as well: it
    removes what is constant over an utterance (channel, vocoder and engine spectral tilt), which
    otherwise tells the model which voice it hears rather than what is said.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, utterance_cmn: bool = False) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(1e-5))
        self.utterance_cmn = utterance_cmn

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats [frames, mels] of one utterance (never a padded batch) -> normalised copy."""
        feats = (feats - self.mean) / self.std
        return feats - feats.mean(0, keepdim=True) if self.utterance_cmn else feats

    @classmethod
    def load(cls, path: str | Path, utterance_cmn: bool = False) -> GlobalCMVN:
        stats = read_cmvn(path)
        return cls(torch.tensor(stats["mean"]), torch.tensor(stats["std"]), utterance_cmn)


LOGMEL_FIXED = {"feature_size": (None, NUM_MELS), "n_fft": (None, N_FFT), "win_length": (None, WIN_LENGTH),
                "hop_length": (None, HOP_LENGTH), "preemphasis": (None, 0.0)}


def front_end_settings(cmvn: dict) -> dict:
    """What a model's features depend on, from the `cmvn` dict stored in a checkpoint or model file
    or from the `data.front_end` group: `{"lifter", "utterance_cmn"}` for the log-mel (files from
    before these settings have neither and count as the plain log-mel), `hf_settings` for the
    `parakeet` and `lasr` kinds. Two front ends give the same features exactly when these agree."""
    kind = cmvn.get("kind") or "logmel"
    if kind != "logmel":
        return hf_settings({**cmvn, "kind": kind})
    odd = [f"{key}={cmvn[key]}" for key, allowed in LOGMEL_FIXED.items() if cmvn.get(key, None) not in allowed]
    if odd:
        raise ConpruneError(f"data.front_end.{odd[0]} applies to kind parakeet or lasr only (the logmel front end "
                            "is fixed at 80 mels, n_fft 512, 400/160 samples): set data.front_end.kind or unset it")
    return {"lifter": int(cmvn.get("lifter", 0)), "utterance_cmn": bool(cmvn.get("utterance_cmn", False))}


def front_end(cmvn: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The feature extractor and normaliser a model was trained with, from its stored `cmvn` dict:
    `LogMel` and `GlobalCMVN` (mean, std and the log-mel settings), or an imported checkpoint's
    front end, which normalises each utterance itself (Parakeet) or not at all (LASR), never with
    global statistics."""
    settings = front_end_settings(cmvn)
    if "kind" in settings:
        return hf_front_end(settings)
    norm = GlobalCMVN(torch.tensor(cmvn["mean"]), torch.tensor(cmvn["std"]), settings["utterance_cmn"])
    return LogMel(lifter=settings["lifter"]), norm


def compute_cmvn(paths: Iterable[str | Path], max_utterances: int = 2000, lifter: int = 0) -> dict:
    """Mean and std of log-mel features over (up to `max_utterances` of) the training audio.

    Sums are accumulated in float64 so millions of frames do not lose precision. `lifter` must be
    the one training uses: smoothing changes the per-bin variance.
    """
    logmel = LogMel(lifter=lifter)
    total = torch.zeros(NUM_MELS, dtype=torch.float64)
    total_sq = torch.zeros(NUM_MELS, dtype=torch.float64)
    frames = 0
    utterances = 0
    for path in paths:
        if utterances >= max_utterances:
            break
        feats = logmel(load_audio(path)).double()
        total += feats.sum(0)
        total_sq += (feats ** 2).sum(0)
        frames += feats.shape[0]
        utterances += 1
    if frames == 0:
        raise ConpruneError("cannot compute CMVN stats: the training manifest has no utterances; "
                            "check --data.train_splits")
    mean = total / frames
    std = (total_sq / frames - mean ** 2).clamp_min(1e-10).sqrt()
    return {"mean": mean.tolist(), "std": std.tolist(), "frames": frames, "utterances": utterances,
            "lifter": lifter}


def read_cmvn(path: str | Path) -> dict:
    """Load CMVN stats written by `compute_cmvn` (JSON), with a clear error if absent or malformed."""
    path = Path(path)
    try:
        stats = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConpruneError(f"CMVN stats {path} not found: run `conprune data prepare` "
                            "or fit once so prepare_data computes them") from exc
    except json.JSONDecodeError as exc:
        raise ConpruneError(f"CMVN stats {path} are not valid JSON ({exc}); delete the file to "
                            "recompute it") from exc
    if len(stats.get("mean", [])) != NUM_MELS or len(stats.get("std", [])) != NUM_MELS:
        raise ConpruneError(f"CMVN stats {path} do not hold {NUM_MELS}-dim mean/std; delete the file "
                            "to recompute it")
    return stats


class FrequencyWarp(torch.nn.Module):
    """Random linear warp of the mel axis, a cheap vocal-tract-length perturbation (VTLP-like).

    Each utterance's bins are resampled at positions i / alpha with alpha ~ U(1 - m, 1 + m), which
    moves formants the way a longer or shorter vocal tract does; it helps most where the training
    set has few speakers (the embedded corpus has a handful of voices).
    """

    def __init__(self, max_warp: float = 0.1) -> None:
        super().__init__()
        self.max_warp = max_warp

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats [frames, mels] -> warped copy of the same shape."""
        if self.max_warp <= 0:
            return feats
        bins = feats.shape[1]
        alpha = 1.0 + (2 * torch.rand(()).item() - 1) * self.max_warp
        pos = (torch.arange(bins, dtype=torch.float32) / alpha).clamp(max=bins - 1)
        low = pos.floor().long()
        high = (low + 1).clamp(max=bins - 1)
        frac = pos - low
        return feats[:, low] * (1 - frac) + feats[:, high] * frac


class SpecAugment(torch.nn.Module):
    """SpecAugment (Park et al. 2019) with torchaudio's masking transforms, training only.

    Time masks are adaptive: each is at most `time_mask_ratio` of the utterance, so short and long
    utterances lose the same share of frames (the LibriSpeech recipe uses 10 x 5 %).
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 27, time_masks: int = 10,
                 time_mask_ratio: float = 0.05) -> None:
        super().__init__()
        self.freq_masks = freq_masks
        self.time_masks = time_masks
        self.time_mask_ratio = time_mask_ratio
        self.freq = torchaudio.transforms.FrequencyMasking(freq_width)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats [frames, mels] -> masked copy (masked bins set to 0, the CMVN mean)."""
        spec = feats.transpose(0, 1).unsqueeze(0)
        for _ in range(self.freq_masks):
            spec = self.freq(spec)
        width = int(self.time_mask_ratio * spec.shape[-1])
        if width > 0:
            time = torchaudio.transforms.TimeMasking(width)
            for _ in range(self.time_masks):
                spec = time(spec)
        return spec.squeeze(0).transpose(0, 1)
