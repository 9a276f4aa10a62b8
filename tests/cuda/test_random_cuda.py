"""Random ops on CUDA: they follow the CPU's Philox stream, so with equal seeds a CUDA op gives the CPU op's
values (bit for bit except normal's transcendental ulps), and the usual statistics hold."""
import math
import struct

import numpy as np
import pytest

import vibetensor as vt
from helpers import rng

pytestmark = pytest.mark.cuda

FLOATS = [vt.float32, vt.float64, vt.float16, vt.bfloat16]


def as64(t):
    return t.detach().cpu().to(vt.float64).numpy()


def both(fn, seed=1234):
    """fn('cpu') and fn('cuda'), each from freshly seeded generators."""
    vt.manual_seed(seed)
    c = fn("cpu")
    vt.manual_seed(seed)
    return c, fn("cuda")


@pytest.mark.parametrize("dtype", FLOATS)
def test_rand_randn_match_cpu(dtype):
    c, g = both(lambda d: vt.rand([37, 29], dtype=dtype, device=d))
    assert g.is_cuda and g.dtype == dtype and g.shape == (37, 29)
    np.testing.assert_array_equal(as64(g), as64(c))
    c, g = both(lambda d: vt.randn([1001], dtype=dtype, device=d))
    tol = {vt.float64: 1e-12, vt.float32: 1e-5, vt.float16: 4e-3, vt.bfloat16: 3e-2}[dtype]
    np.testing.assert_allclose(as64(g), as64(c), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16])
def test_in_place_ops_on_views_match_cpu(dtype):
    def run(d):
        base = vt.zeros([20, 30], dtype=dtype, device=d)
        base.t().uniform_(-3.0, 2.0)
        side = vt.zeros([20, 30], dtype=dtype, device=d)
        side[:, ::3].normal_(1.0, 0.5)  # only every third column is written
        flags = vt.zeros([20, 30], dtype=dtype, device=d)
        flags[2:15].bernoulli_(0.25)
        return base, side, flags
    c, g = both(run)
    # the GPU may fuse u * (to - from) + from into one FMA: at most one rounding step apart
    np.testing.assert_allclose(as64(g[0]), as64(c[0]), rtol=0, atol=1e-6 if dtype == vt.float32 else 3.2e-2)
    np.testing.assert_allclose(as64(g[1]), as64(c[1]), rtol=1e-2, atol=1e-2)
    assert (as64(g[1])[:, 1::3] == 0).all() and (as64(g[1])[:, 2::3] == 0).all()
    np.testing.assert_array_equal(as64(g[2]), as64(c[2]))
    assert (as64(g[2])[:2] == 0).all()


@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.float64])
def test_bernoulli_tensor_p_and_float_p(dtype):
    probs = vt.tensor(rng().uniform(0, 1, size=(64, 33))).to(dtype)
    c, g = both(lambda d: vt.bernoulli(probs.to(d).t()))  # a strided tensor of probabilities
    np.testing.assert_array_equal(as64(g), as64(c))
    c, g = both(lambda d: vt.bernoulli(vt.empty([5000], dtype=dtype, device=d), 0.7))
    np.testing.assert_array_equal(as64(g), as64(c))
    assert abs(as64(g).mean() - 0.7) < 4 * math.sqrt(0.21 / 5000)


@pytest.mark.parametrize("low,high,dtype", [(0, 10, vt.int64), (-3, 4, vt.int8), (0, 2, vt.bool),
                                            (-(1 << 63), (1 << 63) - 1, vt.int64), (-1000, 1000, vt.float32),
                                            (0, 3 << 61, vt.int64)])
def test_randint_matches_cpu(low, high, dtype):
    c, g = both(lambda d: vt.randint(low, high, [3000], dtype=dtype, device=d))
    assert g.dtype == dtype
    np.testing.assert_array_equal(as64(g), as64(c))
    vals = g.cpu().to(vt.int64).numpy() if dtype != vt.bool else g.cpu().to(vt.int64).numpy()
    assert vals.min() >= low and vals.max() <= high - 1
    c, g = both(lambda d: vt.randint(6, [4, 5], device=d))
    assert g.cpu().tolist() == c.tolist()


def test_randperm_and_multinomial_match_cpu():
    for n, dtype in [(0, vt.int64), (1, vt.int64), (1000, vt.int64), (300, vt.int16), (100, vt.float32)]:
        c, g = both(lambda d: vt.randperm(n, dtype=dtype, device=d))
        assert g.is_cuda and g.dtype == dtype
        assert g.cpu().tolist() == c.tolist()
        assert sorted(g.cpu().tolist()) == list(range(n))
    w = vt.tensor(rng().uniform(0, 1, size=(4, 30)), dtype=vt.float32)
    for replacement, k in [(True, 50), (False, 30), (False, 5)]:
        c, g = both(lambda d: vt.multinomial(w.to(d), k, replacement))
        assert g.is_cuda and g.cpu().tolist() == c.tolist()


def test_seeding_and_state_round_trip():
    vt.cuda.manual_seed(7)
    a = vt.rand([100], device="cuda")
    vt.cuda.manual_seed(7)
    assert vt.rand([100], device="cuda").cpu().tolist() == a.cpu().tolist()
    assert vt.cuda.initial_seed() == 7
    state = vt.cuda.get_rng_state()
    assert state.dtype == vt.uint8 and state.numel() == 16
    seed, offset = struct.unpack("<QQ", bytes(state.tolist()))
    assert seed == 7 and offset == 25  # 100 float32 draws: 25 Philox blocks
    x = vt.randn([333], device="cuda")
    vt.cuda.set_rng_state(state)
    assert vt.randn([333], device="cuda").cpu().tolist() == x.cpu().tolist()
    vt.cuda.manual_seed_all(9)
    assert [struct.unpack("<QQ", bytes(s.tolist()))[0] for s in vt.cuda.get_rng_state_all()] == \
        [9] * vt.cuda.device_count()
    vt.manual_seed(11)  # seeds the CPU and every CUDA device
    assert vt.cuda.initial_seed() == 11
    b1, b2 = vt.rand([64], device="cuda"), vt.rand([64], device="cuda")
    assert (b1.cpu().numpy() != b2.cpu().numpy()).all()  # consecutive launches draw fresh blocks


def test_cuda_generator_object():
    g = vt.Generator("cuda").manual_seed(5)
    with vt.random.use_generator(g):
        a = vt.rand([10], device="cuda")
    with vt.random.use_generator(vt.Generator("cuda").manual_seed(5)):
        b = vt.rand([10], device="cuda")
    assert a.cpu().tolist() == b.cpu().tolist()
    assert g.device.type == "cuda"


def test_empty_and_zero_dim():
    assert vt.rand([0, 3], device="cuda").shape == (0, 3)
    assert vt.randn([], device="cuda").shape == ()
    assert vt.randint(3, [0], device="cuda").numel() == 0
    e = vt.empty([0], device="cuda").normal_()
    assert e.numel() == 0


def test_dropout_statistics_and_autograd():
    vt.manual_seed(3)
    x = vt.ones([200, 100], device="cuda").requires_grad_()
    y = vt.dropout(x, 0.3, True)
    yv = as64(y)
    kept = yv != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(yv[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(as64(x.grad), yv, rtol=1e-6)  # d(sum)/dx = mask / (1 - p)
    assert vt.dropout(x, 0.3, False) is x or as64(vt.dropout(x, 0.3, False)).tolist() == as64(x).tolist()
    assert (as64(vt.dropout(x.detach(), 1.0, True)) == 0).all()
    half = vt.dropout(vt.ones([1000], dtype=vt.bfloat16, device="cuda"), 0.5, True)
    assert half.dtype == vt.bfloat16 and abs((as64(half) != 0).mean() - 0.5) < 0.06


def test_bad_input_raises_clearly():
    t = vt.empty([4], device="cuda")
    with pytest.raises(ValueError, match=r"expects p to be in \[0, 1\]"):
        t.bernoulli_(1.5)
    with pytest.raises(ValueError, match="dropout probability"):
        vt.dropout(t, -0.1, True)
    with pytest.raises(ValueError, match="from=3.* > to=1"):
        t.uniform_(3.0, 1.0)
    with pytest.raises(ValueError, match="std >= 0.0"):
        t.normal_(0.0, -1.0)
    with pytest.raises(ValueError, match="less than 'high'"):
        vt.randint(5, 5, [3], device="cuda")
    with pytest.raises(ValueError, match="out of bounds for uint8"):
        vt.randint(0, 300, [3], dtype=vt.uint8, device="cuda")
    with pytest.raises(TypeError, match="floating point dtype"):
        vt.rand([3], dtype=vt.int32, device="cuda")
    with pytest.raises(ValueError, match="non-negative"):
        vt.randperm(-1, device="cuda")
    with pytest.raises(ValueError, match="without replacement"):
        vt.multinomial(vt.ones([3], device="cuda"), 5, False)
    with pytest.raises(ValueError, match="probability tensor contains"):
        vt.multinomial(vt.tensor([1.0, -1.0]).cuda(), 1, True)
    assert vt.rand([2], device="cuda").shape == (2,)  # the runtime is still usable
