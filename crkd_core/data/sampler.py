"""Length-bucketed batches, shuffled per epoch, and split across distributed ranks.

Clips of similar length go into the same batch, so little compute is spent on padding. A
global batch holds batch_size x world_size clips and each rank takes its slice of it, so one
process with batch 8 and two processes with batch 4 see the same global batches, in the same
order, and take the same optimizer steps.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ):
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
        """Batches of batch_size * world_size clips of similar length, in shuffled order."""
        n, size = len(self.lengths), self.batch_size * self.world_size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i : i + size].tolist() for i in range(0, n, size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        # sort by length with random tie-breaking noise, cut into batches, shuffle the batches
        noisy = self.lengths + rng.uniform(0, 1, n) * max(1.0, 0.1 * self.lengths.std())
        order = np.argsort(noisy, kind="stable")
        batches = [order[i : i + size].tolist() for i in range(0, n, size)]
        if self.drop_last and len(batches[-1]) < size:
            batches = batches[:-1]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self):
        for batch in self._global_batches():
            if self.world_size > 1 and len(batch) < self.batch_size * self.world_size:
                # every rank needs a share: fill a short last batch by wrapping around it
                batch = (batch * self.batch_size * self.world_size)[
                    : self.batch_size * self.world_size
                ]
            yield batch[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]

    def __len__(self) -> int:
        n, size = len(self.lengths), self.batch_size * self.world_size
        return n // size if self.drop_last else -(-n // size)
