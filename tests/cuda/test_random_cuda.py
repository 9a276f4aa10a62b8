"""Random ops on CUDA: they follow the CPU's Philox stream, so with equal seeds a CUDA op gives the CPU op's
values (bit for bit except normal's transcendental ulps; randperm is another permutation, multinomial may
differ where a draw lands within rounding of a running sum), and the usual statistics hold. randperm,
multinomial and dropout run on the device only: capturable into CUDA graphs, fresh draws on every replay."""
import math
import re
import struct

import numpy as np
import pytest

import vibetensor as vt
from helpers import TOLERANCES, chi2_ok, rng, torch

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


def cuda_offset():
    return struct.unpack("<QQ", bytes(vt.cuda.get_rng_state().tolist()))[1]


@pytest.mark.parametrize("n,dtype", [(0, vt.int64), (1, vt.int64), (1000, vt.int64), (300, vt.int16),
                                     (100, vt.float32), (2048, vt.float16), (200_003, vt.int64)])
def test_randperm_is_a_permutation_drawn_on_the_device(n, dtype):
    vt.cuda.manual_seed(3)
    p = vt.randperm(n, dtype=dtype, device="cuda")
    assert p.is_cuda and p.dtype == dtype and p.shape == (n,)
    assert cuda_offset() == n  # the n blocks the CPU's Fisher-Yates reserves: later draws line up again
    values = p.cpu().to(vt.int64).numpy()
    assert (np.sort(values) == np.arange(n)).all()
    vt.cuda.manual_seed(3)
    assert (vt.randperm(n, dtype=dtype, device="cuda").cpu().to(vt.int64).numpy() == values).all()
    if n > 100:
        assert not (vt.randperm(n, dtype=dtype, device="cuda").cpu().to(vt.int64).numpy() == values).all()
        assert (values == np.arange(n)).sum() < 10  # fixed points of a uniform permutation: Poisson(1)


def test_randperm_is_uniform():
    vt.cuda.manual_seed(6)
    counts = {}
    for _ in range(3000):
        key = tuple(vt.randperm(4, device="cuda").cpu().tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 24
    ok, stat = chi2_ok(list(counts.values()), np.ones(24))
    assert ok, stat
    where = np.zeros((8, 8))  # every element equally likely at every position, across the sort's blocks too
    for _ in range(2000):
        where[np.arange(8), vt.randperm(8, device="cuda").cpu().numpy()] += 1
    for row in where:
        ok, stat = chi2_ok(row, np.ones(8))
        assert ok, stat
    big = vt.randperm(1 << 20, device="cuda").cpu().numpy()  # runs and merge passes of the GPU sort
    ok, stat = chi2_ok(np.bincount(big[: 1 << 16] >> 16, minlength=16), np.ones(16))
    assert ok, stat


def test_multinomial_draws_the_cpu_samples_nearly_always():
    w = vt.tensor(rng().uniform(0, 1, size=(4, 30)), dtype=vt.float32)
    for replacement, k in [(True, 500), (False, 30), (False, 5)]:
        c, g = both(lambda d: vt.multinomial(w.to(d), k, replacement))
        assert g.is_cuda and g.dtype == vt.int64 and g.shape == c.shape
        # the same words and formulas; only rounding differs (a float64 scan vs the CPU's ordered sums of
        # normalised weights, libdevice's log1p vs libm's)
        assert (g.cpu().numpy() == c.numpy()).mean() > 0.99
    c, g = both(lambda d: vt.multinomial(w[0].to(d), 7, True))  # 1-D: [num_samples]
    assert g.shape == (7,) and (g.cpu().numpy() == c.numpy()).mean() > 0.99


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
def test_multinomial_frequencies(dtype):
    vt.cuda.manual_seed(13)
    probs = np.array([0.1, 0.0, 0.3, 0.6, 0.0])
    s = vt.multinomial(vt.tensor(probs * 7).to(dtype).cuda(), 40_000, True).cpu().numpy()
    counts = np.bincount(s, minlength=5)
    assert counts[1] == 0 and counts[4] == 0
    ok, stat = chi2_ok(counts[[0, 2, 3]], probs[[0, 2, 3]])
    assert ok, stat
    first_probs = np.array([0.5, 0.25, 0.125, 0.125])
    first = vt.multinomial(vt.tensor(np.tile(first_probs, (20_000, 1))).to(dtype).cuda(), 2).cpu().numpy()
    assert (first[:, 0] != first[:, 1]).all()
    ok, stat = chi2_ok(np.bincount(first[:, 0], minlength=4), first_probs)
    assert ok, stat
    assert vt.multinomial(vt.tensor([0.0, 1.0, 0.0, 0.0]).to(dtype).cuda(), 3).cpu().tolist() == [1, 0, 2]


def test_multinomial_without_replacement_on_long_rows():
    w = vt.rand([3, 5000], dtype=vt.float64, device="cuda") + 0.01  # the sort's merge passes and tournament
    for k in (5000, 700, 40):
        s = vt.multinomial(w.t().contiguous().t(), k).cpu().numpy()  # strided probabilities too
        assert s.shape == (3, k) and all(len(set(r)) == k for r in s.tolist()) and s.max() < 5000


@pytest.mark.parametrize("replacement", [True, False])
def test_invalid_probabilities_raise_at_the_next_sync(replacement):
    for bad, msg in [([1.0, -1.0], "probability tensor contains either `inf`, `nan` or element < 0"),
                     ([1.0, math.nan], "`inf`, `nan`"), ([math.inf, 1.0], "`inf`, `nan`"),
                     ([0.0, 0.0], "sum of probabilities <= 0")]:
        w = vt.tensor([[1.0, 2.0], bad]).cuda()
        s = vt.multinomial(w, 1, replacement)  # no host sync: the kernel records the bad row
        with pytest.raises(ValueError, match=re.escape(msg) + r".*row 1 .*cuda:0"):
            s.cpu()
        vt.cuda.synchronize()  # cleared: nothing more to report
        assert vt.multinomial(vt.ones([2, 3], device="cuda"), 2, replacement).cpu().max() < 3  # still usable


def test_sampling_ops_replay_fresh_draws_in_cuda_graphs():
    w = vt.rand([64, 10], device="cuda") + 0.1
    run = lambda: (vt.randperm(1000, device="cuda"), vt.multinomial(w, 4), vt.multinomial(w, 8, True))  # noqa: E731
    run()  # warm-up compiles the kernels
    g = vt.cuda.CUDAGraph()
    with vt.cuda.graph(g):
        outs = run()
    vt.cuda.manual_seed(21)
    g.replay()
    first = [o.cpu().numpy().copy() for o in outs]
    g.replay()
    second = [o.cpu().numpy().copy() for o in outs]
    for a, b in zip(first, second):
        assert not np.array_equal(a, b)
    for p in (first[0], second[0]):
        assert (np.sort(p) == np.arange(1000)).all()
    assert all(len(set(r)) == 4 for r in second[1].tolist()) and second[2].max() < 10
    vt.cuda.manual_seed(21)  # the same draws eagerly: a replay advances the generator as the eager run does
    for a, b in zip(first, run()):
        np.testing.assert_array_equal(b.cpu().numpy(), a)


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


@pytest.mark.parametrize("dtype", FLOATS)
def test_native_dropout_matches_cpu_bit_for_bit(dtype):
    x = vt.tensor(rng().standard_normal((37, 29))).to(dtype)
    c, g = both(lambda d: vt.native_dropout(x.to(d).t(), 0.3, True))  # a strided input, read through its strides
    assert g[0].dtype == dtype and g[1].dtype == vt.bool and g[0].shape == (29, 37)
    np.testing.assert_array_equal(g[1].cpu().numpy(), c[1].numpy())  # the bernoulli_ words, read alike
    np.testing.assert_array_equal(as64(g[0]), as64(c[0]))  # (x * mask) * scale, rounded once


@pytest.mark.parametrize("dtype", FLOATS)
def test_dropout_scaling_and_backward_against_float64(dtype):
    p = 0.4
    x64 = rng().uniform(0.5, 2.0, size=(300, 70))
    x = vt.tensor(x64).to(dtype).cuda().requires_grad_()
    vt.manual_seed(17)
    y = vt.dropout(x, p)
    assert type(y.grad_fn).__name__ == "NativeDropoutBackward0"
    kept = as64(y) != 0
    assert abs(kept.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / kept.size)
    compute = np.float64 if dtype == vt.float64 else np.float32  # exact scaling: x * scale in the compute type
    want = vt.tensor(as64(x).astype(compute) * kept * compute(1 / (1 - p))).to(dtype)
    np.testing.assert_array_equal(as64(y), as64(want))
    g64 = rng().standard_normal((300, 70))
    (dx,) = vt.autograd.grad(y, [x], vt.tensor(g64).to(dtype).cuda())
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(as64(dx), round_trip(g64, dtype) * kept / (1 - p), rtol=rtol, atol=atol)


def round_trip(a, dtype):
    return vt.tensor(a).to(dtype).to(vt.float64).numpy()


def test_dropout_is_one_kernel_each_way():
    x = vt.rand([4096], device="cuda")
    g = vt.rand([4096], device="cuda")
    out, mask = vt.native_dropout(x, 0.5, True)  # warm-up compiles both kernels
    vt.native_dropout_backward(g, mask, 2.0)
    fwd, bwd = vt.cuda.CUDAGraph(), vt.cuda.CUDAGraph()
    with vt.cuda.graph(fwd):
        out, mask = vt.native_dropout(x, 0.5, True)
    with vt.cuda.graph(bwd):
        dx = vt.native_dropout_backward(g, mask, 2.0)
    assert fwd.num_nodes == 1 and bwd.num_nodes == 1
    fwd.replay()
    bwd.replay()
    m = mask.cpu().numpy()
    np.testing.assert_array_equal(out.cpu().numpy(), x.cpu().numpy() * m * np.float32(2.0))
    np.testing.assert_array_equal(dx.cpu().numpy(), g.cpu().numpy() * m * np.float32(2.0))


def test_parity_with_torch_on_cuda():
    if torch is None or not torch.cuda.is_available():
        pytest.skip("torch with CUDA is not installed")
    x = vt.rand([8, 16], dtype=vt.bfloat16, device="cuda")
    tx = torch.rand(8, 16, dtype=torch.bfloat16, device="cuda")
    (o, m), (to, tm) = vt.native_dropout(x, 0.2, True), torch.native_dropout(tx, 0.2, True)
    assert (o.shape, o.dtype.name, m.dtype.name) == (tuple(to.shape), "bfloat16", "bool") and tm.dtype == torch.bool
    w, tw = vt.rand([3, 9], device="cuda"), torch.rand(3, 9, device="cuda")
    for args in [(4,), (20, True)]:
        ours, theirs = vt.multinomial(w, *args), torch.multinomial(tw, *args)
        assert tuple(ours.shape) == tuple(theirs.shape) and theirs.dtype == torch.int64 and ours.dtype == vt.int64
    assert vt.randperm(10, dtype=vt.int32, device="cuda").dtype == vt.int32
    assert torch.randperm(10, dtype=torch.int32, device="cuda").dtype == torch.int32
    for fn in (lambda: vt.multinomial(w, 10), lambda: torch.multinomial(tw, 10)):  # 10 > 9 categories
        with pytest.raises((ValueError, RuntimeError), match="cannot sample n_sample > prob_dist"):
            fn()


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
        vt.multinomial(vt.tensor([1.0, -1.0]).cuda(), 1, True).cpu()  # found by the kernel, raised at the sync
    with pytest.raises(ValueError, match="too large for CUDA"):
        vt.randperm(1 << 30, device="cuda")
    with pytest.raises(TypeError, match="expected a bool mask"):
        vt.native_dropout_backward(t, t, 2.0)
    assert vt.rand([2], device="cuda").shape == (2,)  # the runtime is still usable
