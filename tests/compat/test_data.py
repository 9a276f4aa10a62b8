"""vibetensor.torch.utils.data: datasets, samplers, collation and DataLoader, against PyTorch's behaviour."""
import collections
import warnings

import numpy as np
import pytest

import vibetensor.torch as torch
from vibetensor.torch.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                                         RandomSampler, SequentialSampler, Subset, TensorDataset, default_collate,
                                         random_split)
from helpers import rng
from helpers import torch as real_torch


def _dataset(n=10):
    gen = rng()
    return TensorDataset(torch.tensor(gen.normal(size=(n, 3)).astype(np.float32)), torch.arange(n))


def test_sequential_batches_drop_last_and_len():
    ds = _dataset(10)
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 3) and batches[0][0].tolist() == ds.tensors[0][:4].tolist()
    assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [b[1].tolist() for b in DataLoader(ds, batch_size=4, drop_last=True)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    unbatched = list(DataLoader(ds, batch_size=None))
    assert len(unbatched) == 10 and unbatched[3][1].tolist() == 3


def test_shuffle_is_a_reproducible_permutation_per_epoch():
    ds = _dataset(12)
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(1))
    epoch1 = [i for _, y in loader for i in y.tolist()]
    epoch2 = [i for _, y in loader for i in y.tolist()]
    assert sorted(epoch1) == list(range(12)) and sorted(epoch2) == list(range(12))
    assert epoch1 != epoch2  # the generator advances between epochs
    again = DataLoader(ds, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(1))
    assert [i for _, y in again for i in y.tolist()] == epoch1
    # Without a generator the order comes from the default one: manual_seed makes it reproducible.
    torch.manual_seed(5)
    a = [y.tolist() for _, y in DataLoader(ds, batch_size=4, shuffle=True)]
    torch.manual_seed(5)
    b = [y.tolist() for _, y in DataLoader(ds, batch_size=4, shuffle=True)]
    assert a == b and [len(x) for x in a] == [4, 4, 4]


def test_samplers():
    ds = list(range(7))
    assert list(SequentialSampler(ds)) == list(range(7))
    r = RandomSampler(ds, generator=torch.Generator().manual_seed(0))
    assert sorted(r) == list(range(7)) and len(r) == 7
    more = list(RandomSampler(ds, num_samples=10, generator=torch.Generator().manual_seed(0)))
    assert len(more) == 10 and sorted(more[:7]) == list(range(7))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=50, generator=torch.Generator().manual_seed(0)))
    assert len(drawn) == 50 and set(drawn) <= set(range(7))
    assert list(BatchSampler(range(5), 2, False)) == [[0, 1], [2, 3], [4]]
    assert len(BatchSampler(range(5), 2, True)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(5), 0, False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(ds, num_samples=0)


def test_collate_structures_match_torch():
    Point = collections.namedtuple("Point", "x y")
    samples = [{"a": np.float32(i) * np.ones(2, np.float32), "b": i, "c": 0.5 * i, "s": f"n{i}", "p": Point(i, True)}
               for i in range(3)]
    out = default_collate(samples)
    assert out["a"].shape == (3, 2) and out["a"].dtype == torch.float32
    assert out["b"].dtype == torch.int64 and out["b"].tolist() == [0, 1, 2]
    assert out["c"].dtype == torch.float64 and out["s"] == ["n0", "n1", "n2"]
    assert isinstance(out["p"], Point) and out["p"].y.dtype == torch.bool
    if real_torch is not None:
        from torch.utils.data import default_collate as torch_collate
        ref = torch_collate(samples)
        for k in ("a", "b", "c"):
            assert str(ref[k].dtype).split(".")[1] == out[k].dtype.name and ref[k].tolist() == out[k].tolist()
        assert ref["s"] == out["s"] and type(ref["p"]) is type(out["p"])
    pairs = default_collate([(torch.ones(2), 1), (torch.zeros(2), 2)])
    assert isinstance(pairs, list) and pairs[0].tolist() == [[1.0, 1.0], [0.0, 0.0]]  # tuples collate to lists
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])


def test_subset_concat_random_split():
    ds = _dataset(10)
    sub = Subset(ds, [7, 2])
    assert len(sub) == 2 and sub[0][1].tolist() == 7
    cat = ds + Subset(ds, [0, 1])
    assert isinstance(cat, ConcatDataset) and len(cat) == 12 and cat[11][1].tolist() == 1 and cat[-1][1].tolist() == 1
    with pytest.raises(IndexError):
        cat[12]  # noqa: B018
    parts = random_split(ds, [0.7, 0.3], generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [7, 3]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [3, 3])


def test_iterable_dataset_and_bad_arguments():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(Stream(), shuffle=True)
    ds = _dataset(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=BatchSampler(range(4), 2, False))
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loader = DataLoader(ds, batch_size=2, num_workers=2)
    assert any("main process" in str(w.message) for w in caught)
    assert [y.tolist() for _, y in loader] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(torch.ones(3), torch.ones(4))
    with pytest.raises(NotImplementedError, match="must implement __getitem__"):
        Dataset()[0]


def test_batched_fetch_protocol_and_custom_collate():
    class Batched(Dataset):
        calls = []

        def __len__(self):
            return 5

        def __getitems__(self, indices):
            self.calls.append(list(indices))
            return [i * 10 for i in indices]

    loader = DataLoader(Batched(), batch_size=2, collate_fn=lambda b: b)
    assert list(loader) == [[0, 10], [20, 30], [40]] and Batched.calls == [[0, 1], [2, 3], [4]]
