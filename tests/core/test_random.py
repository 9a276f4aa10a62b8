"""Random ops and generators: the Philox stream layout, reproducibility, thread-count independence, state,
distributions (fixed seeds, tolerances of about 5 standard deviations) and bad input."""
import doctest
import math
import re

import numpy as np
import pytest

import vibetensor as vt
import vibetensor.tensor_core.random as vt_random
from helpers import chi2_ok, torch, torch_call

# ---- a numpy Philox4x32-10 following the layout documented in csrc/core/philox.h --------------------
_MASK = np.uint64(0xFFFFFFFF)


def philox_np(blocks, seed, sub=0):
    c0 = np.asarray(blocks, np.uint64) & _MASK
    c1 = np.asarray(blocks, np.uint64) >> np.uint64(32)
    c2, c3 = np.full_like(c0, sub & 0xFFFFFFFF), np.full_like(c0, sub >> 32)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0, p1 = c0 * np.uint64(0xD2511F53), c2 * np.uint64(0xCD9E8D57)  # 32x32 bits: no overflow
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & _MASK, (k1 + np.uint64(0xBB67AE85)) & _MASK
    return np.stack([c0, c1, c2, c3], -1)


def stream_words(seed, base_block, n):
    """Words 0..n-1 of an op whose first reserved block is base_block."""
    return philox_np(np.arange(base_block, base_block + (n + 3) // 4), seed).reshape(-1)[:n]


def offset_of(gen=None):
    state = (gen or vt.default_generator).get_state().numpy()
    return int.from_bytes(state[8:].tobytes(), "little")


@pytest.fixture
def restore_threads():
    n = vt.get_num_threads()
    yield
    vt.set_num_threads(n)


# ---- the generator -----------------------------------------------------------------------------------
def test_philox_known_answers():
    # Random123's kat_vectors for philox4x32_10: (counter, key) -> output.
    assert vt._C._philox4x32_10(0, 0, 0) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    ones = 2**64 - 1
    assert vt._C._philox4x32_10(ones, ones, ones) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
    got = vt._C._philox4x32_10(0x85A308D3243F6A88, 0x0370734413198A2E, 0x299F31D0A4093822)
    assert got == (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)
    assert tuple(philox_np([0x85A308D3243F6A88], 0x299F31D0A4093822, 0x0370734413198A2E)[0]) == got


def test_stream_layout_matches_documentation():
    seed = 0x1234_5678_9ABC_DEF0
    vt.manual_seed(seed)
    a = vt.rand(10).numpy()  # blocks 0-2: word j -> (w >> 8) * 2^-24
    np.testing.assert_array_equal(a, (stream_words(seed, 0, 10) >> np.uint64(8)).astype(np.float64) * 2.0**-24)
    b = vt.rand(3, dtype=vt.float64).numpy()  # blocks 3-4: words 2j (low), 2j+1 (high)
    w = stream_words(seed, 3, 6)
    np.testing.assert_array_equal(b, ((w[1::2] << np.uint64(32) | w[0::2]) >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    c = vt.randn(5).numpy()  # blocks 5-6: pairs of words, Box-Muller in float
    w = stream_words(seed, 5, 6).astype(np.float64)
    r, t = np.sqrt(-2 * np.log((w[0::2] + 1) * 2.0**-32)), 2 * np.pi * w[1::2] * 2.0**-32
    np.testing.assert_allclose(c, np.stack([r * np.cos(t), r * np.sin(t)], -1).reshape(-1)[:5], rtol=1e-5, atol=1e-5)
    d = vt.randint(-5, 1000, (4,)).numpy()  # blocks 7-10, one per element: Lemire on words 0-1
    blocks = philox_np(np.arange(7, 11), seed).astype(object)
    np.testing.assert_array_equal(d, [-5 + ((int(x0) | int(x1) << 32) * 1005 >> 64) for x0, x1, _, _ in blocks])
    e = vt.empty(8).bernoulli_(0.3).numpy()  # blocks 11-12: word j * 2^-32 < p
    np.testing.assert_array_equal(e, (stream_words(seed, 11, 8) * 2.0**-32 < 0.3).astype(np.float32))
    assert offset_of() == 13


def test_manual_seed_initial_seed_and_seed():
    assert vt.manual_seed(5) is vt.default_generator
    assert vt.initial_seed() == 5 and offset_of() == 0
    assert vt.manual_seed(-1).initial_seed() == 2**64 - 1  # negative seeds wrap, as in torch
    assert vt.manual_seed(np.int64(9)).initial_seed() == 9
    s1, s2 = vt.seed(), vt.seed()
    assert isinstance(s1, int) and s1 != s2 and vt.initial_seed() == s2
    with pytest.raises(ValueError, match="seed must be in"):
        vt.manual_seed(2**64)
    with pytest.raises(ValueError, match="seed must be in"):
        vt.manual_seed(-(2**63) - 1)
    with pytest.raises(TypeError, match="integer seed"):
        vt.manual_seed(1.5)


def test_state_round_trip_tensor_and_bytes():
    vt.manual_seed(11)
    vt.rand(7)
    state = vt.get_rng_state()
    assert state.dtype == vt.uint8 and state.shape == (16,)
    a, b = vt.randn(5).numpy(), vt.randint(9, (5,)).numpy()
    vt.set_rng_state(state)
    np.testing.assert_array_equal(vt.randn(5).numpy(), a)
    vt.set_rng_state(bytes(state.numpy()))
    np.testing.assert_array_equal(vt.randn(5).numpy(), a)
    np.testing.assert_array_equal(vt.randint(9, (5,)).numpy(), b)
    strided = vt.zeros(32, dtype=vt.uint8)[::2]
    strided.copy_(state)
    vt.set_rng_state(strided)
    np.testing.assert_array_equal(vt.randn(5).numpy(), a)


def test_set_state_rejects_bad_states():
    g = vt.Generator()
    with pytest.raises(ValueError, match="16 bytes"):
        g.set_state(b"abc")
    with pytest.raises(ValueError, match="16 bytes"):
        g.set_state(vt.zeros(3, dtype=vt.uint8))
    with pytest.raises(TypeError, match="uint8"):
        g.set_state(vt.zeros(16))
    with pytest.raises(ValueError, match="1-D"):
        g.set_state(vt.zeros(4, 4, dtype=vt.uint8))
    with pytest.raises(TypeError, match="uint8 tensor or bytes"):
        g.set_state([0] * 16)


def test_generator_objects_and_use_generator():
    g = vt.Generator().manual_seed(21)
    assert g.initial_seed() == 21 and str(g.device) == "cpu" and g != vt.default_generator
    assert g.manual_seed(21) is g and g.set_state(g.get_state()) is g  # chainable, like torch's
    assert vt._C._default_generator() == vt.default_generator
    vt.manual_seed(3)
    before = vt.get_rng_state().numpy()
    with vt.random.use_generator(g) as used:
        assert used is g
        a = vt.rand(6).numpy()
        inner = vt.dropout(vt.ones(50), 0.5).numpy()  # the composite's bernoulli_ draws from g as well
    np.testing.assert_array_equal(vt.get_rng_state().numpy(), before)  # the default did not move
    assert offset_of(g) > 0
    g2 = vt.Generator().manual_seed(21)
    with vt.random.use_generator(g2):
        np.testing.assert_array_equal(vt.rand(6).numpy(), a)
        np.testing.assert_array_equal(vt.dropout(vt.ones(50), 0.5).numpy(), inner)
    g3 = vt.Generator().set_state(g.get_state())
    np.testing.assert_array_equal(g3.get_state().numpy(), g.get_state().numpy())
    with pytest.raises(TypeError, match="Generator"):
        with vt.random.use_generator("cpu"):
            pass
    with pytest.raises(TypeError, match="not available"):
        vt.Generator("cuda")


def test_fork_rng_restores_state():
    vt.manual_seed(4)
    with vt.random.fork_rng():
        vt.randn(100)
    after = vt.rand(3).numpy()
    vt.manual_seed(4)
    np.testing.assert_array_equal(vt.rand(3).numpy(), after)


def test_docstring_examples():
    assert doctest.testmod(vt_random).failed == 0


# ---- reproducibility and thread-count independence ---------------------------------------------------
DRAWS = {
    "rand": lambda n: vt.rand(n),
    "rand_f16": lambda n: vt.rand(n, dtype=vt.float16),
    "randn": lambda n: vt.randn(n),
    "randn_f64": lambda n: vt.randn(n, dtype=vt.float64),
    "randn_bf16": lambda n: vt.randn(n, dtype=vt.bfloat16).float(),
    "randint": lambda n: vt.randint(-7, 10**12, (n,)),
    "randperm": lambda n: vt.randperm(n),
    "normal_": lambda n: vt.empty(n, dtype=vt.float64).normal_(2.0, 3.0),
    "uniform_": lambda n: vt.empty(n).uniform_(-2.0, 5.0),
    "bernoulli": lambda n: vt.bernoulli(vt.full((n,), 0.3)),
    "bernoulli_": lambda n: vt.empty(n, dtype=vt.int32).bernoulli_(0.6),
    "multinomial": lambda n: vt.multinomial(vt.ones(n // 500, 500), 100),
    "multinomial_r": lambda n: vt.multinomial(vt.ones(4, 7), n // 4, True),
    "dropout": lambda n: vt.dropout(vt.ones(n), 0.25, True),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_same_seed_same_values_any_thread_count(name, restore_threads):
    n = 100_000  # several parallel chunks (kParallelGrain is 32768 elements)
    results = []
    for threads in (1, 2, 3):
        vt.set_num_threads(threads)
        vt.manual_seed(1234)
        results.append(DRAWS[name](n).numpy())
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    vt.manual_seed(1235)
    assert not np.array_equal(DRAWS[name](n).numpy(), results[0])


def test_successive_calls_differ_and_layout_does_not_matter():
    vt.manual_seed(0)
    a, b = vt.randn(64).numpy(), vt.randn(64).numpy()
    assert not np.array_equal(a, b)
    vt.manual_seed(9)
    dense = vt.empty(6, 5).normal_().numpy()
    vt.manual_seed(9)
    t = vt.empty(5, 6).t()  # transposed: elements are still filled in row-major order of t
    t.normal_()
    np.testing.assert_array_equal(t.numpy(), dense)
    vt.manual_seed(9)
    strided = vt.zeros(6, 10)[:, ::2]
    strided.normal_()
    np.testing.assert_array_equal(strided.numpy(), dense)


# ---- distributions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,bits", [(vt.float32, 24), (vt.float64, 53), (vt.float16, 11), (vt.bfloat16, 8)])
def test_rand_uniform_on_its_own_grid(dtype, bits):
    vt.manual_seed(100)
    x = vt.rand(200_000, dtype=dtype).float().numpy().astype(np.float64) if dtype != vt.float64 else vt.rand(200_000, dtype=dtype).numpy()
    assert x.min() >= 0.0 and x.max() < 1.0  # never 1.0, even after rounding to float16/bfloat16
    assert np.all(x * 2.0**bits == np.floor(x * 2.0**bits))  # exact multiples of 2^-bits
    # mean 1/2 and variance 1/12 of a uniform: 5 standard errors with n = 200000.
    assert abs(x.mean() - 0.5) < 5 * math.sqrt(1 / 12 / x.size)
    assert abs(x.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / x.size)
    ok, stat = chi2_ok(np.histogram(x, bins=32, range=(0, 1))[0], np.ones(32))
    assert ok, stat


def test_uniform_range_and_rounding_never_reaches_to():
    vt.manual_seed(5)
    x = vt.empty(50_000, dtype=vt.float64).uniform_(-3.0, 7.0).numpy()
    assert x.min() >= -3.0 and x.max() < 7.0
    assert abs(x.mean() - 2.0) < 5 * 10 / math.sqrt(12 * x.size)
    # float16 has spacing 0.5 at 1000: u * 1 + 1000 rounds up to 1001 for u > 0.75 and must be kept below it.
    h = vt.empty(4000, dtype=vt.float16).uniform_(1000.0, 1001.0).numpy()
    assert set(np.unique(h).tolist()) == {1000.0, 1000.5}
    assert vt.empty(5).uniform_(2.5, 2.5).numpy().tolist() == [2.5] * 5


def normal_cdf(x):
    return 0.5 * (1 + np.frompyfunc(math.erf, 1, 1)(x / math.sqrt(2)).astype(np.float64))


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64])
def test_randn_passes_kolmogorov_smirnov(dtype):
    vt.manual_seed(77)
    x = np.sort(vt.randn(20_000, dtype=dtype).numpy().astype(np.float64))
    cdf = normal_cdf(x)
    n = x.size
    d = max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max())
    assert d * math.sqrt(n) < 1.95, d  # the KS critical value at alpha = 0.001
    assert abs(x.mean()) < 5 / math.sqrt(n) and abs(x.std() - 1) < 5 / math.sqrt(2 * n)


@pytest.mark.parametrize("dtype", [vt.float16, vt.bfloat16, vt.float32, vt.float64])
def test_normal_mean_and_std(dtype):
    vt.manual_seed(8)
    x = vt.empty(40_001, dtype=dtype).normal_(3.0, 0.5).float().numpy().astype(np.float64)  # odd: a half pair
    # 5 standard errors, plus the dtype's rounding of values near 3 (bfloat16 spacing 1/64 there).
    slack = {vt.bfloat16: 4e-3, vt.float16: 5e-4}.get(dtype, 0.0)
    assert abs(x.mean() - 3.0) < 5 * 0.5 / math.sqrt(x.size) + slack
    assert abs(x.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * x.size) + slack
    assert np.isfinite(x).all()
    assert vt.empty(4).normal_(1.5, 0.0).numpy().tolist() == [1.5] * 4


@pytest.mark.parametrize("dtype", [vt.int64, vt.int8, vt.uint8, vt.int32, vt.float32, vt.bool])
def test_randint_uniform_over_range(dtype):
    low, high = (0, 2) if dtype == vt.bool else (-3, 7) if dtype != vt.uint8 else (250, 256)
    vt.manual_seed(31)
    x = vt.randint(low, high, (60_000,), dtype=dtype)
    assert x.dtype == dtype
    v = x.numpy().astype(np.int64)
    assert v.min() >= low and v.max() < high
    ok, stat = chi2_ok(np.bincount(v - low, minlength=high - low), np.ones(high - low))
    assert ok, stat


def test_randint_has_no_modulo_bias_on_huge_ranges():
    # range 3 * 2^62: a 64-bit draw taken modulo the range would put half of all values in the first third.
    vt.manual_seed(2)
    low = -(2**63)
    v = vt.randint(low, low + 3 * 2**62, (30_000,)).numpy().astype(object)
    thirds = np.bincount([(int(x) - low) // 2**62 for x in v], minlength=3)
    ok, stat = chi2_ok(thirds, np.ones(3))
    assert ok, (thirds, stat)
    full = vt.randint(-(2**63), 2**63 - 1, (1000,)).numpy()
    assert (full < 0).mean() == pytest.approx(0.5, abs=0.08)


def test_randperm_is_a_uniform_permutation():
    vt.manual_seed(6)
    for n in (1, 2, 17, 1000):
        p = vt.randperm(n).numpy()
        assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(n))
    counts = {}
    for _ in range(6000):
        key = tuple(vt.randperm(4).numpy().tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 24
    ok, stat = chi2_ok(list(counts.values()), np.ones(24))
    assert ok, stat
    assert vt.randperm(300, dtype=vt.int16).dtype == vt.int16
    assert sorted(vt.randperm(64, dtype=vt.float16).numpy().tolist()) == list(range(64))


def test_bernoulli_frequencies():
    vt.manual_seed(12)
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    draws = vt.bernoulli(vt.tensor(np.tile(p, (20_000, 1))).t()).numpy()  # non-contiguous probabilities
    freq = draws.mean(1)
    assert freq[0] == 0.0 and freq[-1] == 1.0
    np.testing.assert_allclose(freq[1:4], p[1:4], atol=5 * math.sqrt(0.25 / 20_000))
    c = vt.bernoulli(vt.zeros(30_000, dtype=vt.int64), 0.25)
    assert c.dtype == vt.int64 and abs(c.numpy().mean() - 0.25) < 5 * math.sqrt(0.25 * 0.75 / 30_000)
    b = vt.empty(30_000, dtype=vt.bool).bernoulli_(0.7).numpy()
    assert abs(b.mean() - 0.7) < 5 * math.sqrt(0.21 / 30_000)
    assert vt.bernoulli(vt.rand(3, 4, dtype=vt.float16)).dtype == vt.float16


def test_multinomial_with_replacement_frequencies():
    vt.manual_seed(13)
    probs = np.array([0.1, 0.0, 0.3, 0.6, 0.0])
    s = vt.multinomial(vt.tensor(probs * 7), 40_000, True).numpy()  # unnormalised weights are fine
    counts = np.bincount(s, minlength=5)
    assert counts[1] == 0 and counts[4] == 0  # zero weight: never drawn
    ok, stat = chi2_ok(counts[[0, 2, 3]], probs[[0, 2, 3]])
    assert ok, stat
    rows = vt.multinomial(vt.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=vt.float64), 5, True).numpy()
    assert rows.tolist() == [[0] * 5, [1] * 5]


def test_multinomial_without_replacement_never_repeats():
    vt.manual_seed(14)
    w = vt.rand(300, 20, dtype=vt.float64) + 0.01
    s = vt.multinomial(w, 20).numpy()
    assert all(sorted(r) == list(range(20)) for r in s.tolist())
    probs = np.array([0.5, 0.25, 0.125, 0.125])
    first = vt.multinomial(vt.tensor(np.tile(probs, (20_000, 1))), 2).numpy()
    assert (first[:, 0] != first[:, 1]).all()
    ok, stat = chi2_ok(np.bincount(first[:, 0], minlength=4), probs)  # the first draw follows p
    assert ok, stat
    # Positive weights first; zero weights only once those run out (then in index order, as torch does).
    assert vt.multinomial(vt.tensor([0.0, 1.0, 0.0, 0.0]), 3).numpy().tolist() == [1, 0, 2]


def test_dropout_scaling_and_mask_density():
    vt.manual_seed(15)
    x = vt.rand(200, 300) + 1.0
    y = vt.dropout(x, 0.3, True)
    xv, yv = x.numpy(), y.numpy()
    kept = yv != 0
    assert abs(kept.mean() - 0.7) < 5 * math.sqrt(0.21 / kept.size)
    np.testing.assert_allclose(yv[kept], xv[kept] / 0.7, rtol=1e-6)
    for same in (vt.dropout(x, 0.3, False), vt.dropout(x, 0.0, True)):  # the input itself, no copy
        assert same._is_view_of(x) and same.data_ptr() == x.data_ptr() and same.shape == x.shape
    assert (vt.dropout(x, 1.0, True).numpy() == 0).all()
    h = vt.dropout(vt.ones(1000, dtype=vt.bfloat16), 0.5, True)
    assert h.dtype == vt.bfloat16 and set(np.unique(h.float().numpy()).tolist()) <= {0.0, 2.0}


def test_zero_dim_and_empty():
    assert vt.rand(()).shape == () and vt.randn(0, 3).shape == (0, 3)
    assert vt.randint(5, ()).shape == () and vt.randperm(0).shape == (0,)
    assert vt.empty(0).normal_().shape == (0,) and vt.dropout(vt.empty(0), 0.5).shape == (0,)
    assert vt.multinomial(vt.ones(0, 3), 2).shape == (0, 2)
    assert vt.bernoulli(vt.full((), 0.5)).shape == ()


# ---- API parity with torch ---------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    ("rand", (2, 3), {}), ("randn", (4,), {"dtype": vt.float64}), ("randint", (5, (2, 2)), {}),
    ("randint", (-2, 5, (3,)), {"dtype": vt.int16}), ("randperm", (6,), {}),
])
def test_factory_parity_with_torch(call):
    name, args, kwargs = call
    ours, theirs = getattr(vt, name)(*args, **kwargs), torch_call(name, *args, **kwargs)
    assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype.name == str(theirs.dtype).split(".")[1]


def test_sampling_parity_with_torch():
    if torch is None:
        pytest.skip("torch is not installed")
    w = vt.rand(3, 5) + 0.1
    for args in [(2,), (7, True)]:
        assert tuple(vt.multinomial(w, *args).shape) == tuple(torch_call("multinomial", w, *args).shape)
    assert torch_call("bernoulli", vt.zeros(3, dtype=vt.int32), 0.5).dtype == torch.int32
    assert vt.bernoulli(vt.zeros(3, dtype=vt.int32), 0.5).dtype == vt.int32


# ---- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn,exc,msg", [
    (lambda: vt.rand(-1), ValueError, "negative dimension"),
    (lambda: vt.randn(2, -3), ValueError, "negative dimension"),
    (lambda: vt.randint(5, (-1,)), ValueError, "negative dimension"),
    (lambda: vt.randperm(-2), ValueError, "non-negative"),
    (lambda: vt.rand(3, dtype=vt.int64), TypeError, "floating point dtype"),
    (lambda: vt.randn(3, dtype=vt.bool), TypeError, "floating point dtype"),
    (lambda: vt.randint(5, 5, (2,)), ValueError, "less than 'high'"),
    (lambda: vt.randint(0, (2,)), ValueError, "less than 'high'"),
    (lambda: vt.randint(0, 300, (2,), dtype=vt.int8), ValueError, "out of bounds for int8"),
    (lambda: vt.randint(-1, 3, (2,), dtype=vt.uint8), ValueError, "out of bounds for uint8"),
    (lambda: vt.randint(0, 3, (2,), dtype=vt.bool), ValueError, "out of bounds for bool"),
    (lambda: vt.randint(0, 2**25, (2,), dtype=vt.float32), ValueError, "out of bounds for float32"),
    (lambda: vt.randperm(300, dtype=vt.int8), ValueError, "too large for int8"),
    (lambda: vt.randperm(3, dtype=vt.bool), TypeError, "bool"),
    (lambda: vt.empty(3, dtype=vt.int64).normal_(), TypeError, "floating point tensor"),
    (lambda: vt.empty(3, dtype=vt.int32).uniform_(), TypeError, "floating point tensor"),
    (lambda: vt.empty(3).normal_(0.0, -1.0), ValueError, "std >= 0.0"),
    (lambda: vt.empty(3).uniform_(2.0, 1.0), ValueError, "[from, to)"),
    (lambda: vt.empty(3).uniform_(0.0, math.inf), ValueError, "finite"),
    (lambda: vt.empty(3, dtype=vt.float16).uniform_(-1e5, 1e5), ValueError, "finite values of float16"),
    (lambda: vt.empty(3).uniform_(-3e38, 3e38), ValueError, "to-from"),
    (lambda: vt.bernoulli(vt.tensor([0.5, 1.5])), ValueError, "[0, 1]"),
    (lambda: vt.bernoulli(vt.tensor([0.5, math.nan])), ValueError, "[0, 1]"),
    (lambda: vt.bernoulli(vt.tensor([1, 0])), TypeError, "floating point tensor of probabilities"),
    (lambda: vt.bernoulli(vt.rand(2), 1.5), ValueError, "p to be in [0, 1]"),
    (lambda: vt.empty(3).bernoulli_(-0.1), ValueError, "p to be in [0, 1]"),
    (lambda: vt.multinomial(vt.tensor([1.0, -1.0]), 1), ValueError, "element < 0"),
    (lambda: vt.multinomial(vt.tensor([1.0, math.inf]), 1), ValueError, "`inf`, `nan`"),
    (lambda: vt.multinomial(vt.tensor([1.0, math.nan]), 1, True), ValueError, "`inf`, `nan`"),
    (lambda: vt.multinomial(vt.zeros(2, 3), 1), ValueError, "sum of probabilities <= 0"),
    (lambda: vt.multinomial(vt.ones(2), 3), ValueError, "without replacement"),
    (lambda: vt.multinomial(vt.ones(2), 0, True), ValueError, "n_sample <= 0"),
    (lambda: vt.multinomial(vt.tensor([1, 2]), 1), TypeError, "floating-point"),
    (lambda: vt.multinomial(vt.full((), 1.0), 1), ValueError, "1 or 2 dim"),
    (lambda: vt.multinomial(vt.ones(2, 2, 2), 1), ValueError, "1 or 2 dim"),
    (lambda: vt.dropout(vt.ones(3), 1.5, True), ValueError, "between 0 and 1, but got 1.5"),
    (lambda: vt.dropout(vt.ones(3), -0.1, False), ValueError, "between 0 and 1"),
    (lambda: vt.dropout(vt.ones(3, dtype=vt.int64), 0.5, True), TypeError, "floating point"),
    (lambda: vt.empty(3).expand(2, 3).normal_(), RuntimeError, "single memory location"),
])
def test_bad_input_raises_clearly(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


def test_read_only_tensor_is_not_filled():
    a = np.zeros(4, np.float32)
    a.setflags(write=False)
    t = vt.from_numpy(a)
    with pytest.raises(RuntimeError, match="read-only"):
        t.uniform_()
    assert (a == 0).all()


def test_failed_call_does_not_advance_the_generator():
    vt.manual_seed(3)
    with pytest.raises(ValueError):
        vt.multinomial(vt.tensor([1.0, -1.0]), 1)
    with pytest.raises(ValueError):
        vt.randint(3, 3, (4,))
    assert offset_of() == 0
