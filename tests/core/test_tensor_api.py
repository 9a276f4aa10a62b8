"""The Tensor object itself: construction, conversion, interop (numpy, DLPack, torch), printing, protocols."""
import copy
import pickle

import numpy as np
import pytest

import vibetensor as vt
from helpers import ALL_DTYPES, make, random_array, rng, torch


def test_dtype_and_device_objects():
    assert vt.float32 is vt.float and vt.int64 is vt.long and vt.float16 is vt.half
    assert repr(vt.bfloat16) == "vibetensor.bfloat16" and vt.float64.itemsize == 8
    assert vt.float16.is_floating_point and not vt.int8.is_floating_point and not vt.uint8.is_signed
    d = vt.device("cpu")
    assert str(d) == "cpu" and d.type == "cpu" and d.index is None and repr(d) == "device(type='cpu')"
    c = vt.device("cuda:1")
    assert c.type == "cuda" and c.index == 1 and str(c) == "cuda:1" and c == "cuda:1"
    assert vt.device("cuda", 0) == vt.device("cuda:0")
    with pytest.raises(ValueError, match="invalid device string"):
        vt.device("tpu")
    t = vt.ones(2)
    assert t.device == "cpu" and t.is_cpu and not t.is_cuda


def test_tensor_construction_and_inference():
    assert vt.tensor([1, 2]).dtype == vt.int64
    assert vt.tensor([1.0, 2]).dtype == vt.float32
    assert vt.tensor([True, False]).dtype == vt.bool
    assert vt.tensor(3).dim() == 0 and vt.tensor(3).item() == 3
    assert vt.tensor(np.arange(3, dtype=np.float64)).dtype == vt.float64  # numpy dtypes are kept
    assert vt.tensor([[1, 2], [3, 4]], dtype=vt.bfloat16).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert vt.tensor([]).shape == (0,)
    x = vt.tensor([1.0, 2.0])
    y = vt.tensor(x)
    y[0] = 5
    assert x.tolist() == [1.0, 2.0]  # tensor() always copies
    with pytest.raises(ValueError, match="inhomogeneous"):
        vt.tensor([[1, 2], [3]])
    with pytest.raises(TypeError):
        vt.tensor(["a"])


def test_factories():
    assert vt.zeros(2, 3).tolist() == [[0.0] * 3] * 2 and vt.zeros((2, 3)).shape == (2, 3)
    assert vt.ones(2, dtype=vt.int32).tolist() == [1, 1]
    assert vt.full((2,), 7).dtype == vt.int64 and vt.full((2,), 7.0).dtype == vt.float32
    assert vt.full((2,), True).dtype == vt.bool
    assert vt.arange(5).tolist() == [0, 1, 2, 3, 4] and vt.arange(1, 4).dtype == vt.int64
    assert vt.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert vt.arange(5, 0, -2).tolist() == [5, 3, 1]
    np.testing.assert_allclose(vt.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5), rtol=1e-7)
    assert vt.linspace(-1, 1, 7).tolist()[-1] == 1.0
    assert vt.eye(3).tolist() == np.eye(3).tolist() and vt.eye(2, 3).shape == (2, 3)
    assert vt.empty(4, 5).shape == (4, 5)
    x = vt.ones(2, 3, dtype=vt.float64)
    assert vt.zeros_like(x).dtype == vt.float64 and vt.full_like(x, 2).tolist() == [[2.0] * 3] * 2
    assert x.new_zeros(4).dtype == vt.float64 and x.new_ones((1, 2)).shape == (1, 2)
    with pytest.raises(ValueError, match="negative dimension"):
        vt.zeros(-1)
    with pytest.raises(ValueError, match="step must be nonzero"):
        vt.arange(0, 5, 0)
    with pytest.raises(TypeError, match="cannot be converted"):
        vt.full((2,), 1.5, dtype=vt.int32)


def test_scalars_and_protocols():
    x = vt.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert len(x) == 2 and x.numel() == 4 and x.ndim == 2 and x.dim() == 2 and x.size(-1) == 2
    assert [r.tolist() for r in x] == [[1.5, 2.0], [3.0, 4.0]]
    assert float(x[0, 0]) == 1.5 and int(x[1, 1]) == 4 and bool(x[0, 0])
    assert x[1, 0].item() == 3.0 and isinstance(vt.tensor(2).item(), int) and isinstance(vt.tensor(True).item(), bool)
    assert [0, 1, 2][vt.tensor(1)] == 1  # __index__
    assert 2.0 in x and 7.0 not in x
    assert f"{vt.tensor(1.23456):.2f}" == "1.23"
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
    with pytest.raises(ValueError, match="cannot be converted to Scalar"):
        x.item()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(vt.tensor(1.0))
    assert x.stride() == (2, 1) and x.storage_offset() == 0 and x[1].storage_offset() == 2
    assert x.element_size() == 4 and x.nbytes == 16


def test_to_and_type_conversions():
    x = vt.tensor([1.7, -2.2, 3.9])
    assert x.to(vt.int32).tolist() == [1, -2, 3] and x.long().dtype == vt.int64
    assert x.to(vt.float32) is x and x.to("cpu") is x and x.to(x) is x
    assert x.to(vt.float32, copy=True) is not x
    assert x.bool().tolist() == [True, True, True] and vt.tensor([0.0, 1.0]).bool().tolist() == [False, True]
    assert x.half().dtype == vt.float16 and x.bfloat16().float().tolist() == pytest.approx([1.703125, -2.203125, 3.90625])
    assert x.type() == "vibetensor.float32" and x.type(vt.float64).dtype == vt.float64
    big = vt.tensor([70000.0]).half()
    assert big.tolist() == [float("inf")]  # float16 overflow rounds to inf, as in IEEE
    if not vt._C._cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            x.to("cuda")


@pytest.mark.parametrize("dtype", [d for d in ALL_DTYPES if d != vt.bfloat16])
def test_numpy_round_trip_zero_copy(dtype):
    gen = rng()
    a = random_array((3, 4), dtype, gen)
    src = np.ascontiguousarray(a.astype(make(a, dtype).numpy().dtype))
    t = vt.from_numpy(src)
    assert t.dtype == dtype
    back = t.numpy()
    assert np.shares_memory(back, src)
    np.testing.assert_array_equal(back, src)
    strided = src[:, ::2]
    ts = vt.from_numpy(strided)
    np.testing.assert_array_equal(ts.numpy(), strided)
    assert ts.stride() == (4, 2)


def test_numpy_edge_cases():
    a = np.arange(6.0)
    t = vt.from_numpy(a)
    t[0] = 42
    assert a[0] == 42  # writes show through
    ro = np.arange(4.0)
    ro.flags.writeable = False
    r = vt.from_numpy(ro)
    assert r.tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError, match="read-only"):
        r.add_(1)
    with pytest.raises(ValueError, match="negative"):
        vt.from_numpy(a[::-1])
    with pytest.raises(TypeError, match="can't convert np.ndarray of type complex128"):
        vt.from_numpy(np.ones(2, np.complex128))
    with pytest.raises(TypeError, match="BFloat16"):
        vt.ones(2, dtype=vt.bfloat16).numpy()
    assert np.asarray(vt.tensor([1, 2])).tolist() == [1, 2]
    assert (np.ones(3) + vt.ones(3)).tolist() == [2.0, 2.0, 2.0]  # numpy defers to our operators


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_dlpack_with_torch_both_ways():
    for dtype in [vt.float32, vt.bfloat16, vt.int64, vt.bool, vt.float16, vt.uint8]:
        x = vt.arange(6).to(dtype).view(2, 3)[:, 1:]
        tt = torch.from_dlpack(x)
        assert tuple(tt.shape) == (2, 2) and tt.stride() == (3, 1)
        assert str(tt.dtype) == "torch." + dtype.name
        back = vt.from_dlpack(tt)
        assert back.data_ptr() == x.data_ptr() == tt.data_ptr()
        assert back.to(vt.float64).tolist() == x.to(vt.float64).tolist()
    src = torch.arange(4.0)
    v = vt.from_dlpack(src)
    v[1] = 10
    assert src[1].item() == 10.0
    del src
    assert v.tolist() == [0.0, 10.0, 2.0, 3.0]  # our tensor keeps torch's memory alive


def test_dlpack_capsule_is_single_use():
    cap = vt.ones(3).__dlpack__()
    t = vt.from_dlpack(cap)
    assert t.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="consumed"):
        vt.from_dlpack(cap)
    assert vt.ones(2).__dlpack_device__() == (1, 0)


def test_pickle_and_deepcopy():
    x = vt.tensor([[1.5, 2.5]], dtype=vt.bfloat16)
    y = pickle.loads(pickle.dumps(x))
    assert y.dtype == vt.bfloat16 and y.tolist() == x.tolist()
    z = copy.deepcopy(vt.tensor([1, 2]))
    assert z.tolist() == [1, 2]


@pytest.mark.skipif(torch is None, reason="torch not installed")
def test_repr_matches_torch():
    gen = rng()
    cases = [
        np.array([1.0, 2.0, 3.0]), np.array([[1.5, -2.25], [1000.0, 7.0]]), np.array([1e-5, 1.0]),
        np.array([123456789.0, 1.0]), np.arange(12.0).reshape(3, 4), gen.normal(size=(3, 5)),
        np.array([float("nan"), float("inf"), 1.0]), np.arange(2000.0).reshape(20, 100), np.arange(1500),
        np.array(3.5), np.zeros((0, 3)), gen.normal(size=(2, 2, 3)), gen.normal(size=(30,)),
    ]
    for a in cases:
        want = repr(torch.tensor(a, dtype=torch.float32 if a.dtype.kind == "f" else torch.int64))
        got = repr(vt.tensor(a, dtype=vt.float32 if a.dtype.kind == "f" else vt.int64))
        assert got == want.replace("torch.", "vibetensor."), f"\n{got}\n!=\n{want}"
    assert repr(vt.tensor([1, 2], dtype=vt.int32)) == "tensor([1, 2], dtype=vibetensor.int32)"
    assert repr(vt.tensor([True, False])) == "tensor([ True, False])"
    assert repr(vt.ones(2).requires_grad_()) == "tensor([1., 1.], requires_grad=True)"


def test_size_type():
    s = vt.ones(2, 3).shape
    assert isinstance(s, vt.Size) and isinstance(s, tuple) and s == (2, 3) and s.numel() == 6
    assert repr(s) == "vibetensor.Size([2, 3])"


def test_threads_knob():
    n = vt.get_num_threads()
    assert n >= 1
    vt.set_num_threads(1)
    assert vt.get_num_threads() == 1
    a = vt.arange(200000.0)
    assert (a * 2)[-1].item() == 399998.0
    vt.set_num_threads(n)
    with pytest.raises(ValueError, match="positive"):
        vt.set_num_threads(0)
