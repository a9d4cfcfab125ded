"""The front ends of imported transformers checkpoints: Parakeet's and LASR's features, reproduced.

An imported teacher transcribes as it did in transformers only if it sees the features it was
trained on, so these modules compute, for one utterance, what transformers' `ParakeetFeatureExtractor`
and `LasrFeatureExtractor` compute for it inside a padded batch (its valid frames), with torch and
numpy only: data-loader workers, `conprune transcribe` and the ONNX path need no transformers. The
two differ in every step, hence two kinds rather than one with options:

- `parakeet`: pre-emphasis, centred STFT (constant padding), slaney mel, log(x + 2**-24), and each
  utterance normalised by its own per-bin mean and (unbiased) std, so no global CMVN applies;
- `lasr`: uncentred frames, float64 spectrum, a kaldi-scale mel from 125 Hz to 7.5 kHz without the
  DC bin, log(max(x, 1e-5)), and no normalisation at all.

The parity with transformers is tested in tests/test_hf_front_end.py.
"""

from __future__ import annotations

import numpy as np
import torch

from conprune.errors import ConpruneError

SAMPLE_RATE = 16000
HOP = 160  # every conprune stage counts frames of 10 ms (windows, batch caps, latency examples)
LOG_GUARD = 2 ** -24  # ParakeetFeatureExtractor's LOG_ZERO_GUARD_VALUE
STD_EPSILON = 1e-5  # ParakeetFeatureExtractor's EPSILON, added to the std (not the variance)
LASR_FLOOR = 1e-5
NORMALIZE = {"parakeet": "per_feature", "lasr": "none"}
DEFAULTS = {"parakeet": {"feature_size": 80, "preemphasis": 0.97}, "lasr": {"feature_size": 128, "preemphasis": 0.0}}


def hf_settings(values: dict) -> dict:
    """The checked settings {kind, feature_size, n_fft, win_length, hop_length, preemphasis} of a
    `parakeet` or `lasr` front end, from a stored front-end dict or the `data.front_end` group
    (None or a missing key takes the kind's default: transformers' own; a checkpoint whose
    preprocessor_config.json says `"preemphasis": null` is stored with 0.0)."""
    kind = values.get("kind")
    if kind not in DEFAULTS:
        raise ConpruneError(f"data.front_end.kind={kind!r} is unknown: use logmel, parakeet or lasr")
    for key in ("lifter", "utterance_cmn"):
        if values.get(key):
            raise ConpruneError(f"data.front_end.{key} applies to the logmel front end only; unset it for "
                                f"data.front_end.kind={kind}")
    normalize = values.get("normalize", NORMALIZE[kind])
    if normalize != NORMALIZE[kind]:
        raise ConpruneError(f"front end {kind} normalises {NORMALIZE[kind]!r}, not {normalize!r}: the stored "
                            "front-end dict is inconsistent; re-import the model")

    def given(key: str, default: float) -> float:
        return default if values.get(key) is None else values[key]

    settings = {"kind": kind, "feature_size": int(given("feature_size", DEFAULTS[kind]["feature_size"])),
                "n_fft": int(given("n_fft", 512)), "win_length": int(given("win_length", 400)),
                "hop_length": int(given("hop_length", HOP)),
                "preemphasis": float(given("preemphasis", DEFAULTS[kind]["preemphasis"]))}
    if settings["hop_length"] != HOP:
        raise ConpruneError(f"data.front_end.hop_length={settings['hop_length']}: conprune's stages count "
                            f"frames of 10 ms, so only {HOP} samples at 16 kHz is supported")
    if not 0 < settings["win_length"] <= settings["n_fft"] or settings["feature_size"] < 1:
        raise ConpruneError(f"data.front_end: win_length={settings['win_length']}, n_fft={settings['n_fft']}, "
                            f"feature_size={settings['feature_size']}; need 0 < win_length <= n_fft and "
                            "feature_size >= 1")
    if kind == "lasr" and settings["preemphasis"]:
        raise ConpruneError("data.front_end.preemphasis applies to kind parakeet only; unset it for lasr")
    return settings


def stored_front_end(settings: dict) -> dict:
    """What a model file stores for a `parakeet` or `lasr` front end in place of CMVN statistics (its
    `cmvn` entry): the checked settings plus the normalisation they imply."""
    checked = hf_settings(settings)
    return checked | {"normalize": NORMALIZE[checked["kind"]]}


def hf_front_end(settings: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(feature extractor, normaliser) of checked `hf_settings`."""
    shape = {k: settings[k] for k in ("feature_size", "n_fft", "win_length", "hop_length")}
    if settings["kind"] == "parakeet":
        return ParakeetLogMel(preemphasis=settings["preemphasis"], **shape), UtteranceNorm()
    return LasrLogMel(**shape), torch.nn.Identity()


def slaney_mel_matrix(n_fft: int, num_mels: int) -> torch.Tensor:
    """[num_mels, n_fft // 2 + 1] float32 slaney-scale, slaney-normalised mel filters from 0 to 8 kHz.

    transformers' `mel_filter_bank(norm="slaney", mel_scale="slaney", dtype=float32)`, step for step
    in numpy float64 (triangles cast to float32 before the area normalisation, as it does);
    torchaudio's `melscale_fbanks` builds the same filters in float32 and differs by up to 0.2 %
    on the small edge weights.
    """
    def to_mel(hz: np.ndarray) -> np.ndarray:
        mel = 3.0 * hz / 200.0
        log_region = hz >= 1000.0
        mel[log_region] = 15.0 + np.log(hz[log_region] / 1000.0) * (27.0 / np.log(6.4))
        return mel

    def to_hz(mel: np.ndarray) -> np.ndarray:
        hz = 200.0 * mel / 3.0
        log_region = mel >= 15.0
        hz[log_region] = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel[log_region] - 15.0))
        return hz

    edges = to_mel(np.array([0.0, SAMPLE_RATE / 2]))
    filter_hz = to_hz(np.linspace(edges[0], edges[1], num_mels + 2))
    fft_hz = np.linspace(0, SAMPLE_RATE // 2, n_fft // 2 + 1)
    slopes = filter_hz[None, :] - fft_hz[:, None]
    width = np.diff(filter_hz)
    triangles = np.maximum(0.0, np.minimum(-slopes[:, :-2] / width[:-1], slopes[:, 2:] / width[1:]))
    filters = triangles.astype(np.float32)
    filters *= 2.0 / (filter_hz[2:] - filter_hz[:-2])[None, :]
    return torch.from_numpy(np.ascontiguousarray(filters.T))


def kaldi_mel_matrix(n_fft: int, num_mels: int, low_hz: float = 125.0, high_hz: float = 7500.0) -> torch.Tensor:
    """[n_fft // 2 + 1, num_mels] float64 mel weights of transformers' LASR extractor (a port of the
    JAX `linear_to_mel_weight_matrix`): triangles in kaldi-mel space, the DC bin left out."""
    def to_mel(hz: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    bins_mel = to_mel(np.linspace(0.0, SAMPLE_RATE / 2.0, n_fft // 2 + 1, dtype=np.float64)[1:])[:, None]
    edges = np.linspace(to_mel(low_hz), to_mel(high_hz), num_mels + 2, dtype=np.float64)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    weights = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center)))
    return torch.from_numpy(np.pad(weights, [[1, 0], [0, 0]]))


class ParakeetLogMel(torch.nn.Module):
    """transformers' `ParakeetFeatureExtractor` features of one utterance, before normalisation.

    Only its valid frames are returned: (samples + n_fft // 2 * 2 - n_fft) // hop of them, one fewer
    than the centred STFT makes (the last frame would be mostly padding).
    """

    def __init__(self, feature_size: int = 80, n_fft: int = 512, win_length: int = 400, hop_length: int = HOP,
                 preemphasis: float = 0.97) -> None:
        super().__init__()
        self.feature_size, self.n_fft, self.win_length, self.hop_length = feature_size, n_fft, win_length, hop_length
        self.preemphasis = preemphasis
        # samples a frame at j * hop reads before and after that point (the first sample of a cut also
        # loses its pre-emphasis predecessor, hence + 1): what `chunked_logmel` keeps around a chunk
        self.context = (n_fft // 2 + 1, n_fft // 2)
        self.register_buffer("window", torch.hann_window(win_length, periodic=False), persistent=False)
        self.register_buffer("mel", slaney_mel_matrix(n_fft, feature_size), persistent=False)

    def frames(self, num_samples: int) -> int:
        """Valid frames of `num_samples` samples at 16 kHz (the extractor's `features_lengths`)."""
        return max(0, (num_samples + self.n_fft // 2 * 2 - self.n_fft) // self.hop_length)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [samples] -> log-mel [frames, feature_size]."""
        wav = wav.to(torch.float32)
        if self.preemphasis:
            wav = torch.cat([wav[:1], wav[1:] - self.preemphasis * wav[:-1]])
        stft = torch.stft(wav, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window, return_complex=True, pad_mode="constant")
        power = torch.view_as_real(stft).pow(2).sum(-1).sqrt().pow(2)  # as transformers: |X|, then squared
        mel = torch.log(self.mel @ power + LOG_GUARD)
        return mel[:, :self.frames(wav.numel())].transpose(0, 1)


class LasrLogMel(torch.nn.Module):
    """transformers' `LasrFeatureExtractor` features of one utterance: uncentred frames of
    `win_length` samples every `hop_length`, zero-padded to `n_fft`, computed in float64 and
    returned as float32 [frames, feature_size]; (samples - win_length) // hop + 1 frames."""

    def __init__(self, feature_size: int = 128, n_fft: int = 512, win_length: int = 400, hop_length: int = HOP) -> None:
        super().__init__()
        self.feature_size, self.n_fft, self.win_length, self.hop_length = feature_size, n_fft, win_length, hop_length
        self.context = (0, win_length)
        self.register_buffer("window", torch.hann_window(win_length, periodic=False, dtype=torch.float64),
                             persistent=False)
        self.register_buffer("mel", kaldi_mel_matrix(n_fft, feature_size), persistent=False)

    def frames(self, num_samples: int) -> int:
        """Frames of `num_samples` samples at 16 kHz (those its attention mask marks valid)."""
        return max(0, (num_samples - self.win_length) // self.hop_length + 1)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav [samples] -> log-mel [frames, feature_size]."""
        if self.frames(wav.numel()) == 0:
            return torch.zeros(0, self.feature_size)
        frames = wav.to(torch.float64).unfold(-1, self.win_length, self.hop_length)
        power = torch.fft.rfft(self.window * frames, n=self.n_fft).abs() ** 2
        return torch.log(torch.clamp(power @ self.mel, min=LASR_FLOOR)).to(torch.float32)


class UtteranceNorm(torch.nn.Module):
    """Parakeet's normalisation: each mel bin of an utterance to zero mean and unit std over its frames.

    The std is the unbiased one (divided by frames - 1) and the epsilon is added to it, as
    transformers does; a one-frame utterance (where transformers divides by zero) divides by 1.
    Applied per window in `conprune transcribe`, so recordings longer than one window are
    normalised window by window.
    """

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats [frames, mels] of one utterance (never a padded batch) -> normalised copy."""
        frames = feats.shape[0]
        if frames == 0:
            return feats
        mean = feats.sum(0, keepdim=True) / frames
        variance = ((feats - mean) ** 2).sum(0, keepdim=True) / max(frames - 1, 1)
        return (feats - mean) / (torch.sqrt(variance) + STD_EPSILON)
