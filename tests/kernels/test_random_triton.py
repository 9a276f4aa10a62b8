"""The generated random-number Triton kernels, run by Triton's interpreter.

The kernels follow the CPU ops' Philox stream (csrc/core/philox.h, csrc/cpu/random.cpp): for the same seed
and offset they must give the CPU's values (bit for bit, normal up to libm ulps), reserve as many blocks as
the CPU op advances its generator, and their distributions must pass KS / rate checks.
"""
import math
import struct

import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_random as ir
from helpers import rng

triton = pytest.importorskip("triton")

FLOATS = [vt.float32, vt.float64, vt.float16, vt.bfloat16]
SEED = 0x1234_5678_9ABC_DEF0
BASE = (1 << 32) - 5  # block indices cross 2^32 inside the launch: both counter words matter


def cpu_state(seed, offset):
    vt.random.set_rng_state(struct.pack("<QQ", seed, offset))


def cpu_offset():
    return struct.unpack("<QQ", bytes(vt.random.get_rng_state().tolist()))[1]


def as64(t):
    return t.to(vt.float64).numpy()


def ks_statistic(samples, cdf):
    x = np.sort(np.asarray(samples, dtype=np.float64))
    f = cdf(x)
    n = len(x)
    return max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max())


def normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def assert_rounded_alike(got, want):
    """Bit for bit, except that the interpreter truncates float32 -> bfloat16 where the GPU (and the CPU)
    round to nearest: one bfloat16 ulp there (tests/cuda compares the GPU's bits)."""
    rtol = 2.0**-7 if got.dtype == vt.bfloat16 else 0.0
    np.testing.assert_allclose(as64(got), as64(want), rtol=rtol, atol=0)


KS_LIMIT = 1.95  # sqrt(n) * D above this has probability < 0.001 under the null hypothesis


@pytest.mark.parametrize("dtype", FLOATS)
def test_uniform_matches_cpu_and_reserves_its_blocks(dtype):
    n = 1500 + 3  # not a multiple of a block's elements
    out = vt.empty([n], dtype=dtype)
    top = float(np.nextafter(1.0, 0.0)) if dtype == vt.float64 else 1.0  # the host computes it; any < 1 here
    blocks = ir.run_random("uniform", out, SEED, BASE, (0.0, 1.0, top))
    cpu_state(SEED, BASE)
    want = vt.rand(n, dtype=dtype)
    assert cpu_offset() - BASE == blocks
    np.testing.assert_array_equal(as64(out), as64(want))
    assert as64(out).min() >= 0 and as64(out).max() < 1


def test_uniform_from_to_into_a_transposed_view():
    base = vt.empty([40, 30], dtype=vt.float32)
    out = base.t()  # non-contiguous: written through its strides in row-major element order
    ir.run_random("uniform", out, SEED, 7, (-2.0, 5.0, 3.0))
    cpu_state(SEED, 7)
    want = vt.empty([40, 30], dtype=vt.float32).t().uniform_(-2.0, 3.0)
    np.testing.assert_allclose(as64(out), as64(want), rtol=0, atol=5e-7)  # FMA may round once less
    assert as64(out).min() >= -2.0 and as64(out).max() < 3.0
    assert ks_statistic((as64(out).ravel() + 2) / 5, lambda x: x) * math.sqrt(out.numel()) < KS_LIMIT


@pytest.mark.parametrize("dtype", FLOATS)
def test_normal_matches_cpu(dtype):
    n = 2001
    out = vt.empty([n], dtype=dtype)
    blocks = ir.run_random("normal", out, SEED, BASE, (0.5, 2.0))
    cpu_state(SEED, BASE)
    want = vt.empty([n], dtype=dtype).normal_(0.5, 2.0)
    assert cpu_offset() - BASE == blocks
    tol = {vt.float64: 1e-12, vt.float32: 1e-5, vt.float16: 4e-3, vt.bfloat16: 3e-2}[dtype]
    np.testing.assert_allclose(as64(out), as64(want), rtol=tol, atol=tol)


def test_normal_distribution_ks():
    out = vt.empty([4000], dtype=vt.float32)
    ir.run_random("normal", out, SEED, 11, (0.0, 1.0))
    x = as64(out)
    assert ks_statistic(x, normal_cdf) * math.sqrt(len(x)) < KS_LIMIT
    assert abs(x.mean()) < 0.06 and abs(x.std() - 1) < 0.05


@pytest.mark.parametrize("dtype", [vt.float32, vt.bool, vt.int64, vt.bfloat16])
def test_bernoulli_scalar_p_matches_cpu(dtype):
    n, p = 3000, 0.3
    out = vt.empty([n], dtype=dtype)
    ir.run_random("bernoulli", out, SEED, BASE, (math.ceil(p * 2**32),))
    cpu_state(SEED, BASE)
    want = vt.empty([n], dtype=dtype).bernoulli_(p)
    np.testing.assert_array_equal(as64(out), as64(want))
    rate = as64(out).mean()
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("pdtype", [vt.float32, vt.float16, vt.float64])
def test_bernoulli_tensor_p_broadcast_and_strided(pdtype):
    gen = rng()
    probs = vt.tensor(gen.uniform(0, 1, size=(1, 50))).to(pdtype)
    out = vt.empty([40, 50], dtype=vt.float32)
    ir.run_random("bernoulli_p", out, SEED, 3, p=probs)  # p broadcast over rows (stride 0)
    cpu_state(SEED, 3)
    want = vt.bernoulli(probs.expand([40, 50]).contiguous().to(vt.float32) if pdtype == vt.float32
                        else probs.expand([40, 50]).contiguous()).to(vt.float32)
    np.testing.assert_array_equal(as64(out), as64(want))
    edge = vt.tensor([[0.0, 1.0]]).expand([200, 2])
    out2 = vt.empty([200, 2], dtype=vt.float32)
    ir.run_random("bernoulli_p", out2, SEED, 9, p=edge)
    assert as64(out2)[:, 0].sum() == 0 and as64(out2)[:, 1].sum() == 200


@pytest.mark.parametrize("low,high,dtype", [(-5, 7, vt.int64), (0, 3, vt.uint8), (-(1 << 63), (1 << 63) - 1, vt.int64),
                                            (0, (1 << 62) + (1 << 61), vt.int64), (-100, 100, vt.float32)])
def test_randint_matches_cpu_in_range(low, high, dtype):
    n = 1200
    out = vt.empty([n], dtype=dtype)
    rng_ = (high - low) % (1 << 64)
    blocks = ir.run_random("randint", out, SEED, BASE, (low, rng_, (1 << 64) % rng_))
    cpu_state(SEED, BASE)
    want = vt.randint(low, high, [n], dtype=dtype)
    assert cpu_offset() - BASE == blocks == n
    got = out.to(vt.int64).numpy() if dtype != vt.int64 else out.numpy()
    np.testing.assert_array_equal(got, want.to(vt.int64).numpy())
    assert got.min() >= low and got.max() <= high - 1
    if high - low <= 12:
        assert set(got.tolist()) == set(range(low, high))


def test_randint_range_forcing_rejections_is_unbiased():
    # range = 3 * 2^61: a 64-bit candidate is rejected with probability 1/4, so side streams are used.
    n, r = 4000, 3 << 61
    out = vt.empty([n], dtype=vt.int64)
    ir.run_random("randint", out, SEED, 0, (0, r, (1 << 64) % r))
    cpu_state(SEED, 0)
    np.testing.assert_array_equal(out.numpy(), vt.randint(0, r, [n]).numpy())
    thirds = np.bincount((out.numpy() // (1 << 61)).astype(np.int64), minlength=3)
    assert np.abs(thirds - n / 3).max() < 4 * math.sqrt(n * 2 / 9)


@pytest.mark.parametrize("dtype", FLOATS)
def test_dropout_matches_cpu_native_dropout(dtype):
    x = vt.tensor(rng().standard_normal((40, 30))).to(dtype).t()  # read through its strides
    out, mask = ir.run_dropout(x, 0.35, SEED, BASE)
    cpu_state(SEED, BASE)
    want, want_mask = vt.native_dropout(x, 0.35, True)
    assert cpu_offset() - BASE == 300  # ceil(1200 / 4) blocks: what the launch reserves
    assert out.dtype == dtype and mask.dtype == vt.bool
    np.testing.assert_array_equal(mask.numpy(), want_mask.numpy())
    assert_rounded_alike(out, want)  # the same (x * mask) * scale, rounded once
    assert abs(mask.numpy().mean() - 0.65) < 5 * math.sqrt(0.65 * 0.35 / 1200)


def test_dropout_graph_variant_and_extremes():
    x = vt.rand(1030) + 1.0
    slot = vt.empty([2], dtype=vt.int64)
    ir.write_state(slot, SEED, BASE)
    g_out, g_mask = vt.empty(1030), vt.empty(1030, dtype=vt.bool)
    ir.run_random("dropout", g_out, None, 40, (g_mask, math.ceil(0.5 * 2**32), 2.0), p=x, graph_slot=slot)
    out, mask = ir.run_dropout(x, 0.5, SEED, BASE + 40)
    np.testing.assert_array_equal(g_mask.numpy(), mask.numpy())
    np.testing.assert_array_equal(g_out.numpy(), out.numpy())
    all_out, keep_all = ir.run_dropout(x, 0.0, SEED, 0)  # threshold 2^32: every word keeps
    assert keep_all.numpy().all() and (all_out.numpy() == x.numpy()).all()
    none_out, keep_none = ir.run_dropout(x, 1.0, SEED, 0)
    assert not keep_none.numpy().any() and (none_out.numpy() == 0).all()


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
def test_dropout_backward_kernel_matches_cpu(dtype):
    # native_dropout_backward's CUDA kernel: the elementwise "masked_scale" over (grad, bool mask), no cast
    from vibetensor.kernels import interpret
    gen = rng()
    g = vt.tensor(gen.standard_normal((20, 33))).to(dtype)
    mask = vt.tensor(gen.integers(0, 2, size=(33, 20)).astype(bool)).t()
    for grad, m in [(g, mask.contiguous()), (g.t().contiguous().t(), mask), (g.reshape(-1), mask.reshape(-1))]:
        out = vt.empty(*grad.shape, dtype=dtype)
        interpret.run_elementwise("masked_scale", out, [grad, m], (1 / 0.7,))
        assert_rounded_alike(out, vt.native_dropout_backward(grad, m, 1 / 0.7))


def test_determinism_and_distinct_offsets():
    a, b, c = (vt.empty([777], dtype=vt.float32) for _ in range(3))
    ir.run_random("uniform", a, SEED, 100, (0.0, 1.0, 1.0))
    ir.run_random("uniform", b, SEED, 100, (0.0, 1.0, 1.0))
    blocks = ir.run_random("uniform", c, SEED, 100 + 195, (0.0, 1.0, 1.0))
    assert blocks == 195  # ceil(777 / 4): the next launch starts here, sharing no block
    assert a.tolist() == b.tolist()
    assert not np.isin(c.numpy(), a.numpy()).mean() > 0.01
    d = vt.empty([777], dtype=vt.float32)
    ir.run_random("uniform", d, SEED + 1, 100, (0.0, 1.0, 1.0))
    assert (d.numpy() != a.numpy()).mean() > 0.99


@pytest.mark.parametrize("op,dtype,params", [("uniform", vt.float32, (0.0, 1.0, 1.0)), ("normal", vt.float64, (0.0, 1.0)),
                                             ("randint", vt.int64, (3, 1000, (1 << 64) % 1000)),
                                             ("bernoulli", vt.float16, (1 << 31,))])
def test_graph_variant_reads_seed_and_offset_from_the_slot(op, dtype, params):
    slot = vt.empty([2], dtype=vt.int64)
    ir.write_state(slot, SEED, BASE)  # what rng_replay_prepare launches before a replay
    assert [v & ((1 << 64) - 1) for v in slot.tolist()] == [SEED, BASE]
    intra = 40
    g = vt.empty([1030], dtype=dtype)
    ir.run_random(op, g, None, intra, params, graph_slot=slot)
    v = vt.empty([1030], dtype=dtype)
    ir.run_random(op, v, SEED, BASE + intra, params)
    np.testing.assert_array_equal(as64(g), as64(v))
    ir.write_state(slot, SEED, BASE + 5000)  # the next replay: fresh numbers
    ir.run_random(op, g, None, intra, params, graph_slot=slot)
    assert (as64(g) != as64(v)).mean() > 0.4


def test_bad_keys_are_rejected():
    from vibetensor.kernels.triton import random as rnd
    with pytest.raises(KeyError, match="no random kernel"):
        rnd.generate("rng|gamma|float32|-|c|v")
    with pytest.raises(ValueError, match="floating output"):
        rnd.generate("rng|normal|int32|-|c|v")
    with pytest.raises(ValueError, match="bad random kernel key"):
        rnd.generate("rng|uniform|float32|-|x|v")
