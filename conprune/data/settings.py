"""The data's argument groups, one frozen dataclass each, read by LightningCLI as nested YAML.

What says which corpus, splits and vocabulary a stage reads (`data.root`, `data.num_pieces`,
`data.train_splits`, `data.tokenizer`, `data.cmvn`, `data.seed`) stays at the top of the `data:`
block, because the Makefile, the sweep and the docs pass it on the command line. How utterances are
batched, augmented and turned into features is grouped: `data: {batching: {max_frames: 4000},
augment: {freq_masks: 2}, front_end: {lifter: 20}}`, or `--data.augment.freq_masks 0`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchingConfig:
    """How utterances become batches (`DynamicBucketBatchSampler`, `EvalBatchSampler`).

    max_frames: training batch size cap in padded input frames (10 ms each).
    eval_max_frames: the same cap for validation/test batches (no gradients, so larger).
    num_buckets: length buckets of the dynamic batch sampler.
    max_train_frames: drop training utterances longer than this (counted and logged).
    num_workers: DataLoader worker processes (0: load in the main process).
    cache_features: keep normalised features in memory after first use (small corpora).
    """

    max_frames: int = 20000
    eval_max_frames: int = 40000
    num_buckets: int = 10
    max_train_frames: int = 3500
    num_workers: int = 1
    cache_features: bool = False


@dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation; validation and test features are never augmented.

    freq_masks, freq_width, time_masks, time_mask_ratio: SpecAugment; `freq_masks: 0` and
    `time_masks: 0` switch it off. freq_warp: mel-axis warp factor range (0 = off), see
    `FrequencyWarp`. speed_perturb: speed factors drawn per training utterance, e.g.
    `[0.9, 1.0, 1.1]` (empty = off); batch caps use the unperturbed lengths, so a 0.9 draw may
    exceed `batching.max_frames` by up to 11 %.
    """

    freq_masks: int = 2
    freq_width: int = 27
    time_masks: int = 10
    time_mask_ratio: float = 0.05
    freq_warp: float = 0.0
    speed_perturb: tuple[float, ...] = ()


@dataclass(frozen=True)
class FrontEndConfig:
    """The features a model sees: log-mel, optionally smoothed, then normalised.

    kind: `logmel` (conprune's own: global CMVN), or the front end of an imported transformers
    checkpoint, `parakeet` or `lasr` (`conprune.data.hf_features`), whose normalisation is per
    utterance (Parakeet) or none (LASR), so no CMVN statistics are computed or read for them.
    lifter: smooth each log-mel frame to its first `lifter` cepstral coefficients (0 = off), see
    `cepstral_smoother`; the CMVN stats are computed on the smoothed features (logmel only).
    utterance_cmn: subtract each utterance's mean after the global CMVN (see `GlobalCMVN`; logmel only).
    feature_size, n_fft, win_length, hop_length, preemphasis: the imported front end's settings, as
    in the checkpoint's preprocessor_config.json (feature_size and preemphasis unset: the kind's
    defaults, 80 and 0.97 for parakeet, 128 and none for lasr); the logmel is fixed at 80/512/400/160.
    All but `cmvn_utterances` are stored with the model, and every later stage must use the same values.
    cmvn_utterances: how many training utterances the global CMVN stats are computed over, when
    `data.cmvn` is not given and the corpus has none yet.
    """

    kind: str = "logmel"
    lifter: int = 0
    utterance_cmn: bool = False
    feature_size: int | None = None
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    preemphasis: float | None = None
    cmvn_utterances: int = 2000
