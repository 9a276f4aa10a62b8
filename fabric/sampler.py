"""vt.fabric.DistributedSampler: each rank's share of a dataset's indices, PyTorch's semantics.

Every rank draws the same permutation (seeded with seed + epoch), pads it by repeating its start so it
divides evenly (or drops the tail with drop_last), and takes every num_replicas-th index starting at its rank:
the shares are disjoint up to the padding, cover the dataset, and have equal length, so every rank runs
the same number of steps. Call `set_epoch(e)` before each epoch for a new order.

>>> import vibetensor as vt
>>> ds = vt.torch.utils.data.TensorDataset(vt.arange(10))
>>> s = vt.fabric.DistributedSampler(ds, num_replicas=3, rank=1, shuffle=False)  # default: vt.fabric.init()'s
>>> list(s)  # indices 1, 4, 7 and, padding, 0
[1, 4, 7, 0]
>>> [b[0].tolist() for b in vt.torch.utils.data.DataLoader(ds, batch_size=2, sampler=s)]
[[1, 4], [7, 0]]
"""
import math

from .. import _C
from ..torch._random import randperm
from ..torch.utils.data.sampler import Sampler
from .init import get_group, is_initialized


class DistributedSampler(Sampler):
    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        """dataset: a sized dataset or its length."""
        if num_replicas is None or rank is None:
            g = get_group() if is_initialized() else None
            num_replicas = (g.size if g else 1) if num_replicas is None else num_replicas
            rank = (g.rank if g else 0) if rank is None else rank
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be at least 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank, self.shuffle, self.seed = int(num_replicas), int(rank), shuffle, int(seed)
        self.drop_last, self.epoch = drop_last, 0
        n = dataset if isinstance(dataset, int) else len(dataset)
        if n < 0:
            raise ValueError(f"DistributedSampler: dataset length must be non-negative, got {n}")
        self._n = n
        if drop_last and n % self.num_replicas:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        if self.shuffle:
            gen = _C.Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(self._n, generator=gen).tolist()
        else:
            indices = list(range(self._n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad > 0 and indices:
                # repeats the start, as many times as needed (pad may exceed the dataset when it is tiny)
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch the next iteration shuffles for (every rank must use the same)."""
        self.epoch = int(epoch)
