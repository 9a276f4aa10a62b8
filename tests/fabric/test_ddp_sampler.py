"""vt.fabric.DistributedSampler: partitions (disjoint, covering, padded), per-epoch shuffles, torch parity of the
unshuffled layout, use from vibetensor's DataLoader; and the docstring examples of fabric's DataParallel,
sampler and checkpoint modules."""
import collections

import pytest
import torch.utils.data

import vibetensor as vt
from vibetensor.fabric import DistributedSampler
from vibetensor.torch.utils.data import DataLoader, TensorDataset


def shares(n, size, **kw):
    return [list(DistributedSampler(n, num_replicas=size, rank=r, **kw)) for r in range(size)]


@pytest.mark.parametrize("n", [0, 1, 7, 10, 12])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_partition(n, size, drop_last):
    parts = shares(n, size, drop_last=drop_last, seed=3)
    lengths = {len(p) for p in parts}
    assert len(lengths) == 1  # every rank runs the same number of steps
    per = lengths.pop()
    assert per == len(DistributedSampler(n, num_replicas=size, rank=0, drop_last=drop_last))
    counts = collections.Counter(i for p in parts for i in p)
    assert all(0 <= i < n for i in counts)
    if drop_last:
        assert per == n // size and all(c == 1 for c in counts.values())  # disjoint, the tail dropped
    else:
        assert per == -(-n // size)
        if n:
            assert set(counts) == set(range(n))  # covering
            assert sum(counts.values()) - n == per * size - n  # only the padding repeats
            assert max(counts.values()) <= 1 + -(-(per * size - n) // n)


def test_epochs_reshuffle_deterministically():
    n, size = 23, 3
    e0 = shares(n, size, seed=7)
    assert e0 == shares(n, size, seed=7)  # the same seed and epoch: the same order everywhere
    samplers = [DistributedSampler(n, num_replicas=size, rank=r, seed=7) for r in range(size)]
    for s in samplers:
        s.set_epoch(1)
    e1 = [list(s) for s in samplers]
    assert e1 != e0 and set(sum(e1, [])) == set(range(n))  # a new order, still covering
    for s in samplers:
        s.set_epoch(0)
    assert [list(s) for s in samplers] == e0
    assert shares(n, size, seed=8) != e0


@pytest.mark.parametrize("n,size,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (2, 5, False)])
def test_unshuffled_layout_matches_torch(n, size, drop_last):
    for r in range(size):
        ours = list(DistributedSampler(n, num_replicas=size, rank=r, shuffle=False, drop_last=drop_last))
        theirs = list(torch.utils.data.DistributedSampler(range(n), num_replicas=size, rank=r, shuffle=False,
                                                          drop_last=drop_last))
        assert ours == theirs


def test_with_dataloader_and_defaults():
    ds = TensorDataset(vt.arange(10).view(10, 1).float())
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False)
    seen = [b[0].view(-1).tolist() for b in DataLoader(ds, batch_size=2, sampler=sampler)]
    assert seen == [[1.0, 3.0], [5.0, 7.0], [9.0]]
    solo = DistributedSampler(ds)  # no vt.fabric.init(): a world of one
    assert (solo.num_replicas, solo.rank, sorted(solo)) == (1, 0, list(range(10)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid rank 2"):
        DistributedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(10, num_replicas=0, rank=0)


@pytest.mark.parametrize("module", ["data_parallel", "sampler", "checkpoint"])
def test_docstring_examples(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(f"vibetensor.fabric.{module}"))
    assert result.attempted > 0 and result.failed == 0
