"""Dynamic, length-bucketed batch sampler that shards whole batches across DDP ranks.

Speech utterances vary 10x in length, so a fixed batch size either wastes most of each batch
on padding or runs out of memory on the longest one. Batching by a frame budget
(``batch_size x longest utterance <= max_frames``) over length buckets keeps padding low and
memory flat. Every rank builds the same global batch list from ``seed + epoch`` and takes every
N-th batch, padded so that **all ranks yield the same number of batches**: DDP ranks that run
out of batches early wait forever on the others' all-reduce.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


class DynamicBucketBatchSampler(Sampler[list[int]]):
    """Yield lists of dataset indices whose padded size stays within ``max_frames``.

    Utterances are sorted by length and cut into ``num_buckets`` equal-count buckets
    (quantiles). Each bucket gets one batch size, ``max_frames // longest-in-bucket`` (capped
    by ``max_batch_size``), so the padded size of any batch drawn from it stays within the
    budget however the bucket is shuffled. A bucket's remainder (fewer than a full batch) is
    carried into the next, longer bucket, so only the last bucket leaves a partial batch.
    All this makes the number of batches the same in every epoch, which Lightning relies on
    when it reads ``len()`` once for schedulers and progress.
    An utterance longer than ``max_frames`` gets a batch of its own (counted, logged once)
    rather than crashing a long run on one outlier.

    Per epoch, with ``shuffle``, a ``torch.Generator`` seeded with ``seed + epoch`` shuffles
    within buckets and then the batch order; without it batches come shortest first (cheap,
    low-padding evaluation). Whole batches are sharded: rank r takes batches r, r+N, ...; the
    global list is padded by repeating its first batches (or truncated with ``drop_last``) to
    a multiple of N.

    Checkpointing: ``state_dict()`` holds the epoch, seed, and ``consumed``, the batches this
    rank has yielded so far in the current pass. After ``load_state_dict`` the next pass over
    that epoch skips the ``consumed`` batches (mid-epoch resume); later epochs are whole.
    ``consumed`` counts batches handed to the DataLoader, which may prefetch a few ahead of
    the optimiser step; a caller that knows the exact step count may overwrite it.
    """

    def __init__(self, lengths: Sequence[int], max_frames: int, num_buckets: int = 10,
                 shuffle: bool = True, seed: int = 0, num_replicas: int | None = None,
                 rank: int | None = None, drop_last: bool = False,
                 max_batch_size: int | None = None) -> None:
        super().__init__()
        if max_frames <= 0:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        if num_buckets <= 0:
            raise ValueError(f"num_buckets must be positive, got {num_buckets}")
        if max_batch_size is not None and max_batch_size <= 0:
            raise ValueError(f"max_batch_size must be positive, got {max_batch_size}")
        if num_replicas is None:
            num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, {num_replicas})")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.max_frames = int(max_frames)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch, self.consumed, self._skip = 0, 0, 0

        order = torch.sort(self.lengths, stable=True).indices
        too_long = self.lengths[order] > self.max_frames
        self.oversized = order[too_long]
        self.num_oversized = len(self.oversized)
        fitting = order[~too_long]
        self._buckets: list[tuple[torch.Tensor, int]] = []
        for bucket in torch.tensor_split(fitting, min(num_buckets, max(len(fitting), 1))):
            if len(bucket):
                size = max(1, self.max_frames // int(self.lengths[bucket].max()))
                self._buckets.append((bucket, min(size, max_batch_size or size)))
        if self.num_oversized:
            log.warning("%d utterance(s) longer than max_frames=%d (longest %d) get a batch of "
                        "their own", self.num_oversized, self.max_frames, int(self.lengths.max()))
        total, carry = self.num_oversized, 0
        for i, (bucket, size) in enumerate(self._buckets):
            pool = carry + len(bucket)
            carry = 0 if i == len(self._buckets) - 1 else pool % size
            total += math.ceil((pool - carry) / size)
        self.num_global_batches = total
        self._per_rank = total // num_replicas if drop_last else math.ceil(total / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffle to use; a new epoch drops any pending resume skip."""
        if epoch != self.epoch:
            self._skip, self.consumed = 0, 0
        self.epoch = int(epoch)

    def _global_batches(self) -> list[torch.Tensor]:
        """All batches of the current epoch, identical on every rank."""
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        batches: list[torch.Tensor] = []
        carry = self.oversized[:0]
        for i, (bucket, size) in enumerate(self._buckets):
            pool = torch.cat([carry, bucket])
            if self.shuffle:
                pool = pool[torch.randperm(len(pool), generator=gen)]
            full = len(pool) if i == len(self._buckets) - 1 else len(pool) // size * size
            batches.extend(torch.split(pool[:full], size) if full else [])
            carry = pool[full:]
        batches.extend(self.oversized.split(1) if self.num_oversized else [])
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
        return batches

    def _rank_batches(self) -> list[torch.Tensor]:
        batches = self._global_batches()
        wanted = self._per_rank * self.num_replicas
        if wanted > len(batches) and batches:  # pad by cycling from the start
            batches = (batches * math.ceil(wanted / len(batches)))[:wanted]
        return batches[:wanted][self.rank::self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        skip, self._skip = self._skip, 0
        self.consumed = skip
        for batch in self._rank_batches()[skip:]:
            self.consumed += 1
            yield batch.tolist()

    def __len__(self) -> int:
        """Batches per rank in a whole epoch (a resumed pass yields ``len - consumed``)."""
        return self._per_rank

    def state_dict(self) -> dict[str, int]:
        """Where this rank is: epoch, seed, and batches already yielded in this epoch."""
        return {"epoch": self.epoch, "seed": self.seed, "consumed": self.consumed,
                "num_replicas": self.num_replicas}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume: the next ``__iter__`` over ``state["epoch"]`` skips the consumed batches.

        If the world size changed, the skip is rescaled through the global batch count
        (batch composition depends only on seed and epoch, not on the number of ranks).
        """
        self.epoch, self.seed = int(state["epoch"]), int(state["seed"])
        consumed = int(state["consumed"])
        saved_replicas = int(state.get("num_replicas", self.num_replicas))
        if saved_replicas != self.num_replicas:
            consumed = consumed * saved_replicas // self.num_replicas
        self.consumed = self._skip = min(consumed, self._per_rank)


class EvalBatchSampler(Sampler[list[int]]):
    """Evaluation batches: length-sorted, capped at `max_frames` padded frames, dealt round robin to
    the DDP ranks with no padding and no duplicates, so a corpus WER summed over ranks equals a
    one-rank WER (ranks may hold different numbers of batches; evaluation never syncs per batch)."""

    def __init__(self, lengths: Sequence[int], max_frames: int, rank: int = 0, world: int = 1) -> None:
        batches = list(DynamicBucketBatchSampler(lengths, max_frames, num_buckets=1, shuffle=False,
                                                 num_replicas=1, rank=0))
        self.batches = batches[rank::world]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
