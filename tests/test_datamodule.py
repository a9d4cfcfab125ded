"""LibriSpeechDataModule: builds what is missing, batches, caches, shards evaluation."""

import shutil
from dataclasses import replace

import pytest
import torch

from conprune.data.sampling import EvalBatchSampler
from conprune.data.settings import AugmentConfig, BatchingConfig, FrontEndConfig
from conprune.errors import ConpruneError
from conprune.lit.datamodule import LibriSpeechDataModule


@pytest.fixture()
def datamodule(prepared_copy):
    return prepared_copy(batching={"max_frames": 600, "num_workers": 0, "cache_features": True},
                         augment={"freq_warp": 0.1})


def test_groups_from_dataclasses_or_dicts_stored_as_plain_values(tmp_path):
    """A group may come as its dataclass (the CLI) or a dict (a test, a script); the hyperparameters
    hold plain nested dicts, so a checkpoint stays loadable with `weights_only=True`."""
    dm = LibriSpeechDataModule(root=str(tmp_path), augment={"freq_masks": 0, "speed_perturb": (0.9, 1.1)},
                               front_end=FrontEndConfig(lifter=20))
    assert dm.augment == AugmentConfig(freq_masks=0, speed_perturb=(0.9, 1.1)) and dm.batching == BatchingConfig()
    assert dm.front_end == {"lifter": 20, "utterance_cmn": False}
    torch.save(dict(dm.hparams), tmp_path / "hparams.pt")
    stored = torch.load(tmp_path / "hparams.pt", weights_only=True)
    assert stored["augment"]["freq_masks"] == 0 and stored["front_end"]["lifter"] == 20
    with pytest.raises(ConpruneError, match=r"^data.augment has unknown field\(s\) \['freq_mask'\]"):
        LibriSpeechDataModule(root=str(tmp_path), augment={"freq_mask": 0})


def test_train_batches_and_cache(datamodule):
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["features"].shape[0] == len(batch["ids"]) == batch["targets"].shape[0]
    assert batch["features"].shape[0] * batch["features"].shape[1] <= 600
    assert (batch["target_lengths"] > 0).all() and batch["targets"].max() < 41
    dataset = datamodule.train_dataloader().dataset
    first = dataset[0]["features"]
    assert (0, 1.0) in dataset.cache and dataset[0]["features"].shape == first.shape


def test_eval_loaders_are_unaugmented_and_deterministic(datamodule):
    loaders = datamodule.val_dataloader()
    assert len(loaders) == 2
    a = next(iter(loaders[0]))["features"]
    b = next(iter(loaders[0]))["features"]
    assert torch.equal(a, b)


def test_eval_batches_split_over_ranks_without_duplicates():
    lengths = [50, 400, 120, 300, 90, 220, 310, 75, 180]
    ranks = [list(EvalBatchSampler(lengths, 500, r, 2)) for r in range(2)]
    seen = [i for r in ranks for batch in r for i in batch]
    assert sorted(seen) == list(range(len(lengths)))


def test_tokenizer_size_mismatch_is_clear(datamodule):
    other = LibriSpeechDataModule(root=str(datamodule.root), num_pieces=40)
    other.hparams.num_pieces = 50
    other.tokenizer_path.parent.mkdir(exist_ok=True)
    shutil.copy(datamodule.tokenizer_path, other.tokenizer_path)
    with pytest.raises(ConpruneError, match="data.num_pieces=50"):
        other.setup("fit")


def test_speed_perturbation_draws_factors_and_caches_each(datamodule):
    datamodule.augment = replace(datamodule.augment, speed_perturb=(0.9, 1.0, 1.1))
    dataset = datamodule._dataset("train-clean-100", train=True)
    torch.manual_seed(0)
    lengths = {dataset[0]["features"].shape[0] for _ in range(30)}
    assert len(lengths) == 3
    assert {key[1] for key in dataset.cache} == {0.9, 1.0, 1.1}
    assert datamodule._dataset("dev-clean", train=False).speeds == ()


def test_speed_perturbation_rejects_silly_factors(datamodule):
    datamodule.augment = replace(datamodule.augment, speed_perturb=(0.1,))
    with pytest.raises(ConpruneError, match="data.augment.speed_perturb"):
        datamodule._dataset("train-clean-100", train=True)
