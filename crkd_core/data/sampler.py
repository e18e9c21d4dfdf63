"""Length-bucketed batches, shuffled per epoch, and split across distributed ranks.

Clips of similar length go into the same batch, so little compute is spent on padding. Each
rank takes every world_size-th batch of the same global order, so ranks see disjoint data and
the global batch is world_size x batch_size.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    def __init__(self, lengths: list[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _global_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        # sort by length with random tie-breaking noise, cut into batches, shuffle the batches
        noisy = self.lengths + rng.uniform(0, 1, n) * max(1.0, 0.1 * self.lengths.std())
        order = np.argsort(noisy, kind="stable")
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches = batches[:-1]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self):
        batches = self._global_batches()
        # every rank gets the same number of batches: pad by wrapping around
        per_rank = -(-len(batches) // self.world_size)
        batches = (batches * 2)[: per_rank * self.world_size] if batches else batches
        return iter(batches[self.rank :: self.world_size])

    def __len__(self) -> int:
        n = len(self.lengths)
        nb = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return -(-nb // self.world_size)
