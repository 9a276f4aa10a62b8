"""View and shape ops: they share storage, follow numpy's values and PyTorch's rules and errors."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import make, random_array, rng, torch, torch_call


def shares(a, b):
    return a._is_view_of(b)


def test_view_reshape():
    gen = rng()
    a = random_array((4, 6), vt.float32, gen)
    x = make(a, vt.float32)
    v = x.view(2, 12)
    assert shares(v, x) and v.shape == (2, 12)
    np.testing.assert_array_equal(v.numpy(), a.reshape(2, 12))
    assert x.view(-1).shape == (24,) and x.view(3, -1).shape == (3, 8) and x.view([2, 3, 4]).shape == (2, 3, 4)
    t = x.t()
    assert not t.is_contiguous()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.view(24)
    r = t.reshape(24)  # copies when it must
    assert not shares(r, x)
    np.testing.assert_array_equal(r.numpy(), a.T.reshape(24))
    assert shares(x.reshape(6, 4), x)  # and views when it can
    with pytest.raises(ValueError, match=r"shape '\[5, 5\]' is invalid for input of size 24"):
        x.view(5, 5)
    with pytest.raises(ValueError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    # views of a size-1-strided tensor are legal where PyTorch allows them
    y = vt.zeros(4, 1, 3)[:, :, 1:]
    assert y.view(4, 2).shape == (4, 2)


def test_permute_transpose_expand_squeeze():
    gen = rng()
    a = random_array((2, 3, 4), vt.float64, gen)
    x = make(a, vt.float64)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), a.swapaxes(0, 2))
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    np.testing.assert_array_equal(x.mT.numpy(), a.swapaxes(-1, -2))
    np.testing.assert_array_equal(x.movedim(0, -1).numpy(), np.moveaxis(a, 0, -1))
    e = x[:, :1].expand(2, 5, 4)
    assert e.stride()[1] == 0 and shares(e, x)
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to(a[:, :1], (2, 5, 4)))
    assert x[:, :1].expand(3, -1, -1, -1).shape == (3, 2, 1, 4)
    s = x[:, :1].unsqueeze(0)
    assert s.shape == (1, 2, 1, 4) and s.squeeze().shape == (2, 4) and s.squeeze(0).shape == (2, 1, 4)
    assert s.squeeze((0, 2)).shape == (2, 4) and s.squeeze(1).shape == s.shape
    assert x.unsqueeze(-1).shape == (2, 3, 4, 1)
    with pytest.raises(ValueError, match="duplicate dims"):
        x.permute(0, 0, 1)
    with pytest.raises(ValueError, match="number of dims"):
        x.permute(0, 1)
    with pytest.raises(ValueError, match=r"expanded size of the tensor \(5\) must match the existing size \(3\)"):
        x.expand(2, 5, 4)
    with pytest.raises(IndexError, match="Dimension out of range|dimension out of range"):
        x.transpose(0, 3)
    with pytest.raises(ValueError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        x.t()


def test_slicing_select_narrow():
    gen = rng()
    a = random_array((6, 5), vt.int32, gen)
    x = make(a, vt.int32)
    for idx in [(1,), (-1,), (slice(1, 4),), (slice(None, None, 2),), (slice(-3, None),), (Ellipsis, 2),
                (None, 1), (slice(1, 5, 3), slice(None, None, -1) if False else slice(0, 5, 2)), (2, slice(1, 3)),
                (slice(10, 20),), (slice(-100, 2),)]:
        got = x[idx]
        np.testing.assert_array_equal(got.numpy(), a[idx], err_msg=str(idx))
        if got.numel():
            assert shares(got, x)
    np.testing.assert_array_equal(x.narrow(1, 1, 3).numpy(), a[:, 1:4])
    np.testing.assert_array_equal(x.narrow(0, -2, 2).numpy(), a[-2:])
    np.testing.assert_array_equal(x.select(1, -1).numpy(), a[:, -1])
    with pytest.raises(IndexError, match="index 6 is out of bounds for dimension 0 with size 6"):
        x[6]
    with pytest.raises(IndexError, match="out of range"):
        x.select(0, -7)
    with pytest.raises(ValueError, match="exceeds dimension size"):
        x.narrow(0, 4, 3)
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(IndexError, match="too many indices"):
        x[1, 2, 3]


def test_flatten_unflatten_split_chunk_unbind():
    gen = rng()
    a = random_array((2, 3, 4), vt.float32, gen)
    x = make(a, vt.float32)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12) and x.flatten(0, 1).shape == (6, 4)
    assert vt.tensor(3.0).flatten().shape == (1,)
    assert x.unflatten(2, (2, 2)).shape == (2, 3, 2, 2) and x.unflatten(-1, (-1, 2)).shape == (2, 3, 2, 2)
    parts = x.split(2, dim=2)
    assert [p.shape for p in parts] == [(2, 3, 2), (2, 3, 2)] and isinstance(parts, tuple)
    parts = x.split([1, 2], dim=1)
    assert [p.shape[1] for p in parts] == [1, 2]
    np.testing.assert_array_equal(parts[1].numpy(), a[:, 1:])
    assert [c.shape[2] for c in x.chunk(3, 2)] == [2, 2]
    assert [c.shape[1] for c in x.chunk(2, 1)] == [2, 1]
    us = x.unbind(1)
    assert len(us) == 3 and all(shares(u, x) for u in us)
    np.testing.assert_array_equal(us[2].numpy(), a[:, 2])
    np.testing.assert_array_equal(vt.diagonal(make(a, vt.float32), 1, 1, 2).numpy(), np.diagonal(a, 1, 1, 2))
    with pytest.raises(ValueError, match="split_with_sizes expects split_sizes to sum exactly to 3"):
        x.split([1, 1], dim=1)
    with pytest.raises(ValueError, match="chunk expects `chunks` to be greater than 0"):
        x.chunk(0)


def test_as_strided_and_bounds():
    x = vt.arange(12.0)
    y = x.as_strided((3, 3), (3, 1), 1)
    np.testing.assert_array_equal(y.numpy(), np.arange(12.0)[1:10].reshape(3, 3))
    z = x.as_strided((2, 2), (1, 2))  # overlapping windows are fine to read
    assert z.tolist() == [[0.0, 2.0], [1.0, 3.0]]
    with pytest.raises(ValueError, match="out of bounds for a storage"):
        x.as_strided((4, 4), (4, 1))
    with pytest.raises(ValueError, match="negative strides"):
        x.as_strided((2,), (-1,))


def test_view_dtype():
    x = vt.tensor([1.0, -2.0], dtype=vt.float32)
    bits = x.view(vt.int32)
    assert bits.tolist() == np.array([1.0, -2.0], np.float32).view(np.int32).tolist()
    halves = x.view(vt.int16)
    assert halves.shape == (4,)
    with pytest.raises(ValueError, match="divisible"):
        vt.ones(3, dtype=vt.uint8).view(vt.int32)


def test_views_track_writes_and_versions():
    x = vt.zeros(3, 4)
    row = x[1]
    row.fill_(5.0)
    col = x[:, 2]
    col.add_(1)
    assert x.tolist()[1] == [5.0, 5.0, 6.0, 5.0] and x.tolist()[0][2] == 1.0
    assert x._version == row._version == col._version == 2
    x[0, 0] = 9
    x[2] = vt.tensor([1.0, 2.0, 3.0, 4.0])
    x[:, 1] = 7.5
    assert x.tolist() == [[9.0, 7.5, 1.0, 0.0], [5.0, 7.5, 6.0, 5.0], [1.0, 7.5, 3.0, 4.0]]


def test_contiguous_clone_preserve():
    gen = rng()
    a = random_array((3, 4), vt.float32, gen)
    x = make(a, vt.float32).t()
    c = x.contiguous()
    assert c.is_contiguous() and not shares(c, x)
    np.testing.assert_array_equal(c.numpy(), a.T)
    k = x.clone()
    assert k.stride() == x.stride() and not shares(k, x)  # PyTorch's preserve_format
    y = make(a, vt.float32)
    assert y.contiguous()._is_view_of(y)


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.bfloat16, vt.int8, vt.int16, vt.int64, vt.bool])
def test_contiguous_of_strided_views(dtype):
    """Same-dtype copies that are not one dense run (cpu/copy.cpp copy_strided): every layout of a view, each
    row a memcpy or element by element, split over threads when large."""
    gen = rng()
    a = random_array((5, 6, 7, 3), dtype, gen)
    x = make(a, dtype)

    def host(t):  # numpy has no bfloat16: compare its values as float32 (each exact in both)
        return (t.float() if dtype == vt.bfloat16 else t).numpy()
    cases = [(lambda t: t.permute(0, 2, 1, 3), lambda n: n.transpose(0, 2, 1, 3)),
             (lambda t: t.permute(3, 2, 1, 0), lambda n: n.transpose(3, 2, 1, 0)),
             (lambda t: t[:, ::2, 1:, :], lambda n: n[:, ::2, 1:, :]),
             (lambda t: t.flip(0)[:, 2, :, ::2], lambda n: n[::-1, 2, :, ::2]),
             (lambda t: t[1].permute(2, 0, 1)[:, 4], lambda n: n[1].transpose(2, 0, 1)[:, 4])]
    for view, ref in cases:
        got, want = view(x), ref(a)
        c = got.contiguous()
        assert c.is_contiguous() and c.dtype == dtype
        np.testing.assert_array_equal(host(c), want)
        if want.ndim == 2:  # into a strided destination too
            dst = make(random_array(want.shape[::-1], dtype, gen), dtype).t()
            dst.copy_(got)
            np.testing.assert_array_equal(host(dst), want)
    big = random_array((300, 400), dtype, gen)  # past the parallel grain: rows split over threads
    np.testing.assert_array_equal(host(make(big, dtype).t().contiguous()), big.T)
    row = make(a[0, 0, 0], dtype)  # a broadcast source: stride 0 along the run
    out = make(random_array((4, 3), dtype, gen), dtype)
    out.copy_(row)
    np.testing.assert_array_equal(host(out), np.broadcast_to(a[0, 0, 0], (4, 3)))


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_view_ops_match_torch():
    gen = rng()
    a = random_array((2, 3, 4), vt.float32, gen)
    x = make(a, vt.float32)
    cases = [(".permute", (1, 2, 0)), (".transpose", (0, 1)), (".flatten", (1,)), (".unsqueeze", (1,)),
             (".narrow", (2, 1, 2)), (".select", (1, 2)), (".movedim", (0, 2)), (".diagonal", (0, 1, 2))]
    for name, args in cases:
        got = getattr(x, name[1:])(*args)
        want = torch_call(name, x, *args)
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=name)
        assert tuple(got.stride()) == tuple(want.stride()), name
