"""LibriSpeechDataModule: manifests -> log-mel batches, for real LibriSpeech and the embedded corpus.

`prepare_data` (rank 0 only) builds whatever is missing under `root`: manifests, the tokenizer and
the global CMVN stats, so `conprune fit --data.root DIR` works on a freshly synthesised corpus.
Training batches come from `DynamicBucketBatchSampler` (dynamic size by total frames, whole batches
sharded over DDP ranks with equal counts per rank); evaluation batches are length-sorted and dealt
round robin to ranks without padding, so a corpus WER gathered over ranks equals a 1-rank WER.

This is the data's only Lightning piece: what it calls (manifests, features, samplers, its argument
groups in `conprune.data.settings`) lives in `conprune.data`, which never imports Lightning, so
evaluation and export read a corpus with torch alone.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from conprune.data import layout
from conprune.data.checks import check_audio_present, screen_rows
from conprune.data.dataset import AsrDataset, collate
from conprune.data.features import (
    FrequencyWarp,
    GlobalCMVN,
    LogMel,
    SpecAugment,
    compute_cmvn,
    front_end_settings,
    read_cmvn,
)
from conprune.data.fingerprint import corpus_fingerprint
from conprune.data.hf_features import hf_front_end, stored_front_end
from conprune.data.librispeech import expand_splits, find_corpus_dir, prepare
from conprune.data.manifest import atomic_write_text, read_manifest
from conprune.data.sampling import DynamicBucketBatchSampler, EvalBatchSampler
from conprune.data.settings import AugmentConfig, BatchingConfig, FrontEndConfig
from conprune.data.tokenizer import Tokenizer, train_tokenizer
from conprune.errors import ConpruneError
from conprune.settings_base import coerce, plain

log = logging.getLogger(__name__)
BATCHING, AUGMENT, FRONT_END = BatchingConfig(), AugmentConfig(), FrontEndConfig()


class LibriSpeechDataModule(L.LightningDataModule):
    """Data for every stage. `root` is the directory holding `LibriSpeech/` (real or synthesised).

    Args:
        root: corpus root (the parent of `LibriSpeech/`).
        train_splits / val_splits / test_splits: split names (`train-960` expands to the three
            LibriSpeech training splits); validation WER is logged per split.
        num_pieces: SentencePiece unigram size; the model's vocabulary is this + 1 (CTC blank 0).
        seed: the training sampler's shuffle seed (with the epoch: the same order on every rank).
        batching: batch caps, length buckets, the training length filter, workers and cache
            (`BatchingConfig`).
        augment: SpecAugment, mel warping and speed perturbation, training only (`AugmentConfig`).
        front_end: the front end's kind (conprune's log-mel, or an imported checkpoint's), its
            settings and the CMVN sample size (`FrontEndConfig`); all but the sample size are stored
            with the model.
        tokenizer: a SentencePiece model or a Hugging Face tokenizer.json to use instead of the
            corpus's own (`<root>/tokenizer/unigram<num_pieces>.model`, trained when missing), e.g. a
            shipped or imported teacher's: a student must read labels with its teacher's pieces.
        cmvn: CMVN statistics (JSON) to use instead of computing them from the training splits,
            e.g. a shipped teacher's: its features must be normalised as in its training. A
            `parakeet` or `lasr` front end uses none (it may be given that teacher's front-end JSON,
            which must then agree with `front_end`).
    """

    def __init__(self, root: str = "data/synth", train_splits: tuple[str, ...] = ("train-clean-100",),
                 val_splits: tuple[str, ...] = ("dev-clean", "dev-other"),
                 test_splits: tuple[str, ...] = ("test-clean", "test-other"), num_pieces: int = 256,
                 seed: int = 0, batching: BatchingConfig = BATCHING, augment: AugmentConfig = AUGMENT,
                 front_end: FrontEndConfig = FRONT_END, tokenizer: str | None = None,
                 cmvn: str | None = None) -> None:
        super().__init__()
        self.batching = coerce(BatchingConfig, batching, "data.batching")
        self.augment = coerce(AugmentConfig, augment, "data.augment")
        # Not `front_end`: that name is the stored settings dict other stages compare against.
        self.front_end_config = coerce(FrontEndConfig, front_end, "data.front_end")
        front_end_settings(plain(self.front_end_config))  # a bad combination fails here, not in setup
        self.save_hyperparameters({"root": root, "train_splits": train_splits, "val_splits": val_splits,
                                   "test_splits": test_splits, "num_pieces": num_pieces, "seed": seed,
                                   "batching": plain(self.batching), "augment": plain(self.augment),
                                   "front_end": plain(self.front_end_config), "tokenizer": tokenizer,
                                   "cmvn": cmvn})
        self.root = Path(root)
        self.train_splits = expand_splits(train_splits)
        self.val_splits = expand_splits(val_splits)
        self.test_splits = expand_splits(test_splits)
        self.tokenizer: Tokenizer | None = None
        self.cmvn: torch.nn.Module | None = None  # the normaliser: GlobalCMVN for the log-mel
        self.extractor: torch.nn.Module | None = None
        self.train_sampler: DynamicBucketBatchSampler | None = None
        self._sampler_state: dict | None = None
        self.skipped: dict[str, dict[str, int]] = {}  # split -> {too_long, unknown_chars}
        self._fingerprint: dict[str, dict] | None = None

    # -- paths ---------------------------------------------------------------------------
    @property
    def manifest_dir(self) -> Path:
        return layout.manifest_dir(self.root)

    def manifest_path(self, split: str) -> Path:
        return layout.manifest_path(self.root, split)

    @property
    def tokenizer_path(self) -> Path:
        given = self.hparams.tokenizer
        return Path(given) if given else layout.tokenizer_path(self.root, self.hparams.num_pieces)

    @property
    def cmvn_path(self) -> Path:
        given = self.hparams.cmvn
        lifter = self.front_end_config.lifter
        return Path(given) if given else layout.cmvn_path(self.root, self.train_splits, lifter)

    @property
    def front_end(self) -> dict:
        """The feature settings a model trained on this data depends on (stored with its CMVN)."""
        return front_end_settings(plain(self.front_end_config))

    @property
    def global_cmvn(self) -> bool:
        """Whether the front end uses global CMVN statistics (the log-mel) or none (imported kinds)."""
        return "kind" not in self.front_end

    def train_fingerprint(self) -> dict[str, dict]:
        """Checksums of the training splits' text and audio (`conprune.data.fingerprint`), computed
        once: a model stores them so a later stage can tell whether it sees the same corpus."""
        if self._fingerprint is None:
            self._fingerprint = corpus_fingerprint(self.root, self.train_splits)
        return self._fingerprint

    def cmvn_settings(self) -> dict:
        """What a model trained on this data needs to see the same features: the CMVN statistics
        and the front-end settings (stored with every checkpoint and model file); an imported
        kind's settings alone, since it has no statistics."""
        if not self.global_cmvn:
            return stored_front_end(self.front_end)
        return {"mean": self.cmvn.mean.tolist(), "std": self.cmvn.std.tolist(), **self.front_end}

    # -- hooks ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Build missing manifests, tokenizer and CMVN stats (rank 0 only, before setup)."""
        if not self.root.exists():
            find_corpus_dir(self.root)
        needed = dict.fromkeys(self.train_splits + self.val_splits + self.test_splits)
        missing = [s for s in needed if not self.manifest_path(s).is_file()]
        if missing:
            prepare(self.root, missing, out_dir=self.manifest_dir)
        train_rows = [r for s in self.train_splits for r in read_manifest(self.manifest_path(s))]
        for name in ("tokenizer", "cmvn"):
            given = self.hparams[name]
            if given and not Path(given).is_file():
                raise ConpruneError(f"data.{name}: {given} not found; point it at an existing file or leave it "
                                    f"unset to use the corpus's own")
        if not self.tokenizer_path.is_file():
            train_tokenizer((r["text"] for r in train_rows), self.tokenizer_path, self.hparams.num_pieces)
        if self.global_cmvn and not self.cmvn_path.is_file():
            order = torch.randperm(len(train_rows), generator=torch.Generator().manual_seed(0)).tolist()
            front = self.front_end_config
            stats = compute_cmvn((train_rows[i]["path"] for i in order), front.cmvn_utterances, front.lifter)
            stats["splits"] = self.train_splits
            atomic_write_text(self.cmvn_path, json.dumps(stats))

    def setup(self, stage: str | None = None) -> None:
        self.tokenizer = Tokenizer(self.tokenizer_path)
        if self.tokenizer.vocab_size != self.hparams.num_pieces + 1:
            raise ConpruneError(f"tokenizer {self.tokenizer_path} has {self.tokenizer.vocab_size - 1} "
                                f"pieces but data.num_pieces={self.hparams.num_pieces}; delete it or fix "
                                "data.num_pieces")
        if not self.global_cmvn:
            self._check_front_end_file()
            self.extractor, self.cmvn = hf_front_end(self.front_end)
            return
        front = self.front_end_config
        self.extractor = LogMel(lifter=front.lifter)
        self.cmvn = GlobalCMVN.load(self.cmvn_path, front.utterance_cmn)
        stats_lifter = int(read_cmvn(self.cmvn_path).get("lifter", 0))
        if stats_lifter != front.lifter:
            raise ConpruneError(f"data.cmvn: {self.cmvn_path} holds statistics of lifter {stats_lifter} features "
                                f"but data.front_end.lifter={front.lifter}; use the statistics of the same "
                                "front end")

    def _check_front_end_file(self) -> None:
        """An imported kind reads no statistics; a `data.cmvn` given with it must be that kind's
        front-end JSON with the same settings (a teacher's), or it would silently be ignored."""
        given = self.hparams.cmvn
        if not given:
            return
        try:
            stored = json.loads(Path(given).read_text())
            settings = front_end_settings(stored) if isinstance(stored, dict) else None
        except (OSError, json.JSONDecodeError, ConpruneError):
            settings = None
        kind = self.front_end["kind"]
        if settings is None or "kind" not in settings:
            raise ConpruneError(f"data.cmvn: {given} holds no {kind} front end, and data.front_end.kind={kind} uses "
                                "no CMVN statistics: unset data.cmvn")
        if settings != self.front_end:
            wanted = ", ".join(f"data.front_end.{k}={v}" for k, v in settings.items())
            raise ConpruneError(f"data.cmvn: {given} describes the front end {wanted}, which this run's data.front_end "
                                "does not match: set those values (or unset data.cmvn)")

    def _dataset(self, split: str, train: bool) -> AsrDataset:
        rows = read_manifest(self.manifest_path(split))
        check_audio_present(rows, self.manifest_path(split))
        cap = self.batching.max_train_frames if train else None
        rows, self.skipped[split] = screen_rows(rows, split, self.tokenizer, cap)
        augment = None
        if train:
            aug = self.augment
            augment = torch.nn.Sequential(
                FrequencyWarp(aug.freq_warp),
                SpecAugment(aug.freq_masks, aug.freq_width, aug.time_masks, aug.time_mask_ratio))
        speeds = tuple(self.augment.speed_perturb) if train else ()
        if any(not 0.5 <= f <= 2.0 for f in speeds):
            raise ConpruneError(f"data.augment.speed_perturb={list(speeds)}: factors must lie in [0.5, 2.0], "
                                "e.g. [0.9, 1.0, 1.1]")
        return AsrDataset(rows, self.tokenizer, self.cmvn, augment, cache=self.batching.cache_features,
                          speeds=speeds, logmel=self.extractor)

    def _loader(self, dataset: AsrDataset, batch_sampler, generator: torch.Generator | None = None) -> DataLoader:
        workers = self.batching.num_workers
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate, num_workers=workers,
                          persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(),
                          generator=generator)

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        datasets = [self._dataset(s, train=True) for s in self.train_splits]
        dataset = datasets[0] if len(datasets) == 1 else _concat(datasets)
        rank, world = self._world()
        self.train_sampler = DynamicBucketBatchSampler(
            dataset.frame_lengths(), self.batching.max_frames, num_buckets=self.batching.num_buckets,
            shuffle=True, seed=self.hparams.seed, num_replicas=world, rank=rank)
        if self._sampler_state is not None:
            self.train_sampler.load_state_dict(self._sampler_state)
            self._sampler_state = None
        return self._loader(dataset, self.train_sampler)

    def _eval_loaders(self, splits: list[str]) -> list[DataLoader]:
        rank, world = self._world()
        loaders = []
        for split in splits:
            dataset = self._dataset(split, train=False)
            batches = EvalBatchSampler(dataset.frame_lengths(), self.batching.eval_max_frames, rank, world)
            # Own generator: building an eval iterator must not draw from the global RNG, or a
            # validation between two training steps would shift the training noise (exact resume).
            loaders.append(self._loader(dataset, batches, torch.Generator().manual_seed(0)))
        return loaders

    def val_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders(self.val_splits)

    def test_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders(self.test_splits)

    def state_dict(self) -> dict:
        """The training sampler's epoch/position, so a resumed run continues the same order.

        The position is the number of batches the trainer has *processed* in this epoch, not what
        the sampler has handed out: the DataLoader runs ahead (worker prefetch), and those batches
        were never trained on, so a resume must replay them.
        """
        if self.train_sampler is None:
            return {}
        state = self.train_sampler.state_dict()
        trainer = self.trainer
        if trainer is not None and trainer.state.fn == "fit":  # also when saved after a validation
            state["epoch"] = trainer.current_epoch
            state["consumed"] = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"sampler": state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume: the next training sampler skips the batches already trained on in this epoch.

        Lightning warns that a mid-epoch resume of a plain DataLoader replays the epoch; ours
        does not (the sampler skips), so that warning is silenced.
        """
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch")
        self._sampler_state = state_dict.get("sampler")


def _concat(datasets: list[AsrDataset]) -> AsrDataset:
    """One dataset over several training splits (same tokenizer, CMVN and augmentation)."""
    first = datasets[0]
    return AsrDataset([r for d in datasets for r in d.rows], first.tokenizer, first.cmvn, first.augment,
                      cache=first.cache is not None, speeds=first.speeds, logmel=first.logmel)
