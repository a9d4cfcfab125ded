"""DynamicBucketBatchSampler: frame budget, DDP sharding, per-epoch shuffle, mid-epoch resume."""

import logging

import pytest
import torch
from torch.utils.data import DataLoader

from conprune.data.sampling import DynamicBucketBatchSampler

MAX_FRAMES = 3000


def random_lengths(n=203, seed=0):
    return torch.randint(50, 1000, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def ranks(lengths, world=2, **kw):
    return [DynamicBucketBatchSampler(lengths, MAX_FRAMES, num_replicas=world, rank=r, **kw)
            for r in range(world)]


def test_frame_budget_and_max_batch_size():
    lengths = random_lengths()
    s = DynamicBucketBatchSampler(lengths, MAX_FRAMES, num_replicas=1, rank=0, max_batch_size=4)
    for epoch in range(3):  # the batch count must not depend on the shuffle
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s) == s.num_global_batches
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for b in batches:
            assert len(b) * max(lengths[i] for i in b) <= MAX_FRAMES
            assert len(b) <= 4


def test_two_ranks_disjoint_complete_equal():
    lengths = [300] * 200  # 10 per batch -> 20 batches, divisible by 2: no padding
    r0, r1 = (list(s) for s in ranks(lengths))
    assert len(r0) == len(r1) == 10
    seen0, seen1 = {i for b in r0 for i in b}, {i for b in r1 for i in b}
    assert not seen0 & seen1
    assert seen0 | seen1 == set(range(200))


def test_padding_gives_equal_counts_and_covers_everything():
    lengths = random_lengths()
    samplers = ranks(lengths, world=3)
    per_rank = [list(s) for s in samplers]
    total = samplers[0].num_global_batches
    assert total % 3  # this case needs padding
    assert {len(b) for b in per_rank} == {len(samplers[0])} == {-(-total // 3)}
    assert {i for batches in per_rank for b in batches for i in b} == set(range(len(lengths)))
    dropped = [list(s) for s in ranks(lengths, world=3, drop_last=True)]
    assert {len(b) for b in dropped} == {total // 3}


def test_deterministic_per_seed_and_epoch():
    lengths = random_lengths()
    a, b = (DynamicBucketBatchSampler(lengths, MAX_FRAMES, seed=7, num_replicas=2, rank=1)
            for _ in range(2))
    assert list(a) == list(b)
    epoch0 = list(a)
    a.set_epoch(1)
    assert list(a) != epoch0
    assert sorted(map(sorted, list(a))) != sorted(map(sorted, epoch0))  # new batch composition
    other_seed = DynamicBucketBatchSampler(lengths, MAX_FRAMES, seed=8, num_replicas=2, rank=1)
    assert list(other_seed) != epoch0


def test_no_shuffle_is_shortest_first_and_fixed():
    lengths = random_lengths()
    s = DynamicBucketBatchSampler(lengths, MAX_FRAMES, shuffle=False, num_replicas=1, rank=0)
    first = list(s)
    s.set_epoch(5)
    assert list(s) == first
    maxima = [max(lengths[i] for i in b) for b in first]
    assert maxima == sorted(maxima)


def test_oversized_utterance_gets_own_batch(caplog):
    lengths = [100] * 20 + [5000, 4000]
    with caplog.at_level(logging.WARNING):
        s = DynamicBucketBatchSampler(lengths, MAX_FRAMES, num_replicas=1, rank=0)
    assert s.num_oversized == 2
    assert "2 utterance(s) longer than max_frames=3000" in caplog.text
    batches = list(s)
    assert [20] in batches and [21] in batches
    assert all(len(b) * max(lengths[i] for i in b) <= MAX_FRAMES for b in batches if len(b) > 1)


def test_resume_mid_epoch_yields_exactly_the_rest():
    lengths = random_lengths()
    for rank in (0, 1):
        s = DynamicBucketBatchSampler(lengths, MAX_FRAMES, seed=3, num_replicas=2, rank=rank)
        s.set_epoch(2)
        it = iter(s)
        head = [next(it) for _ in range(4)]
        state = s.state_dict()
        assert state == {"epoch": 2, "seed": 3, "consumed": 4, "num_replicas": 2}
        rest = list(it)

        resumed = DynamicBucketBatchSampler(lengths, MAX_FRAMES, num_replicas=2, rank=rank)
        resumed.load_state_dict(state)
        resumed.set_epoch(2)  # Lightning calls this on resume with the same epoch
        assert list(resumed) == rest and head + rest == list(s)
        assert resumed.state_dict()["consumed"] == len(s)
        resumed.set_epoch(3)
        assert len(list(resumed)) == len(resumed)


def test_dataloader_integration_and_defaults():
    lengths = random_lengths(50)
    s = DynamicBucketBatchSampler(lengths, MAX_FRAMES)
    assert (s.num_replicas, s.rank) == (1, 0)
    loader = DataLoader(list(range(50)), batch_sampler=s)
    assert len(loader) == len(s)
    assert sorted(torch.cat(list(loader)).tolist()) == list(range(50))
    with pytest.raises(ValueError, match="rank 2"):
        DynamicBucketBatchSampler(lengths, MAX_FRAMES, num_replicas=2, rank=2)
