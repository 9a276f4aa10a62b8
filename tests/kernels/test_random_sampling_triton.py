"""randperm and multinomial as they run on CUDA (kernels/triton/random_sampling.py with the GPU sort and
scan, in csrc/cuda/random_sampling.cpp's order), run by Triton's interpreter on small shapes: the stream
layout of the keys, the shuffle of tied keys, the CPU's multinomial draws, and invalid rows recorded in the
error word instead of raised."""
import math
import struct

import numpy as np
import pytest

import vibetensor as vt
from helpers import chi2_ok
from vibetensor.kernels import interpret_random as ir

triton = pytest.importorskip("triton")

SEED = 0x1234_5678_9ABC_DEF0
BASE = (1 << 32) - 5  # block indices cross 2^32 inside the launch


def cpu_state(seed, offset):
    vt.random.set_rng_state(struct.pack("<QQ", seed, offset))


def cpu_offset():
    return struct.unpack("<QQ", bytes(vt.random.get_rng_state().tolist()))[1]


def test_keys_are_words_0_1_of_each_element_block():
    keys = vt.empty([50], dtype=vt.int64)
    assert ir.run_random("perm_keys", keys, SEED, BASE) == 50
    for j in (0, 4, 5, 49):  # around the 2^32 carry of the block index
        w0, w1, _, _ = vt._C._philox4x32_10(BASE + j, 0, SEED)
        assert keys[j].item() == int(np.int64(np.uint64(w0 | w1 << 32)))


def test_randperm_is_the_stable_argsort_of_its_keys():
    keys = vt.empty([300], dtype=vt.int64)
    ir.run_random("perm_keys", keys, SEED, 7)
    perm, blocks = ir.run_randperm(300, SEED, 7, one_block=64)  # sorted runs of 64, merged
    assert blocks == 300  # as many as the CPU's Fisher-Yates reserves
    np.testing.assert_array_equal(perm.numpy(), np.argsort(keys.numpy(), kind="stable"))
    again, _ = ir.run_randperm(300, SEED, 7, one_block=64)
    other, _ = ir.run_randperm(300, SEED, 307, one_block=64)
    assert again.tolist() == perm.tolist() and other.tolist() != perm.tolist()


def shuffle_ties(sorted_keys, offset):
    """perm_ties on the identity permutation of already sorted keys (what the sort hands it)."""
    perm = vt.arange(sorted_keys.numel())
    ir.run_random("perm_ties", perm, SEED, offset, p=sorted_keys)
    return perm.numpy()


def test_tied_keys_are_shuffled_uniformly():
    # 300 runs of three equal keys: each run is put in one of its 6 orders, all equally likely
    runs = 300
    keys = vt.tensor(np.repeat(np.arange(runs), 3))
    first = shuffle_ties(keys, 11)
    assert (shuffle_ties(keys, 11) == first).all()  # the same blocks give the same shuffle
    p = first.reshape(runs, 3) - 3 * np.arange(runs)[:, None]
    assert (np.sort(p, 1) == [0, 1, 2]).all()
    order = {o: i for i, o in enumerate([(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])}
    ok, stat = chi2_ok(np.bincount([order[tuple(r)] for r in p.tolist()], minlength=6), np.ones(6))
    assert ok, stat


def test_a_tie_across_programs_is_shuffled_by_its_first_lane():
    keys = np.arange(1100)
    keys[1018:1030] = 1018  # positions 1018..1029 tie; the kernel's programs hold 1024 lanes
    p = shuffle_ties(vt.tensor(keys), 0)
    assert (p[:1018] == np.arange(1018)).all() and (p[1030:] == np.arange(1030, 1100)).all()
    assert sorted(p[1018:1030]) == list(range(1018, 1030)) and (p[1018:1030] != np.arange(1018, 1030)).any()


@pytest.mark.parametrize("dtype", [vt.float64, vt.float32, vt.bfloat16])
def test_with_replacement_draws_the_cpu_samples(dtype):
    w = (vt.rand(3, 7, dtype=vt.float64) + 0.05).to(dtype)
    got, err = ir.run_multinomial(w, 50, True, SEED, BASE)
    cpu_state(SEED, BASE)
    want = vt.multinomial(w, 50, True)
    assert cpu_offset() - BASE == 75  # 150 samples, two per Philox block
    assert err.tolist()[0] == 0
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_with_replacement_frequencies():
    probs = np.array([0.1, 0.0, 0.3, 0.6, 0.0])
    got, _ = ir.run_multinomial(vt.tensor(probs[None] * 7), 3000, True, SEED, 0)  # unnormalised weights
    counts = np.bincount(got.numpy().ravel(), minlength=5)
    assert counts[1] == 0 and counts[4] == 0  # zero weight: never drawn
    ok, stat = chi2_ok(counts[[0, 2, 3]], probs[[0, 2, 3]])
    assert ok, stat


@pytest.mark.parametrize("k", [3, 20])  # the top-k tournament, and a whole sort with merge passes
def test_without_replacement_draws_the_cpu_samples(k):
    w = vt.rand(6, 20, dtype=vt.float64) + 0.01
    w[1, 3:9] = 0.0
    got, err = ir.run_multinomial(w, k, False, SEED, BASE, one_block=8)
    cpu_state(SEED, BASE)
    want = vt.multinomial(w, k, False)
    assert cpu_offset() - BASE == 60 and err.tolist()[0] == 0
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert all(len(set(r)) == k for r in got.tolist())  # no category twice
    if k == 20:  # zero weights come last, in index order
        assert got.numpy()[1, -6:].tolist() == list(range(3, 9))


def test_without_replacement_first_draw_follows_the_weights():
    probs = np.array([0.5, 0.25, 0.125, 0.125])
    got, _ = ir.run_multinomial(vt.tensor(np.tile(probs, (1500, 1))), 2, False, SEED, 0)
    first = got.numpy()
    assert (first[:, 0] != first[:, 1]).all()
    ok, stat = chi2_ok(np.bincount(first[:, 0], minlength=4), probs)
    assert ok, stat


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("bad,what", [(-1.0, 0), (math.nan, 0), (math.inf, 0), (None, 1)])
def test_invalid_rows_are_recorded_not_raised(replacement, bad, what):
    w = vt.ones(4, 5)
    if bad is None:
        w[2] = 0.0  # a row without weight
    else:
        w[2, 1] = bad
    got, err = ir.run_multinomial(w, 3, replacement, SEED, 0)
    assert err.tolist() == [1, 2, what, ir.ERROR_CODE]  # [flag, row, invalid (0) / zero sum (1), op]
    assert got.numpy().min() >= 0 and got.numpy().max() < 5  # still in range



COMPILE_CHECK = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from vibetensor.kernels.cache import cache_dir
from vibetensor.kernels.triton import random as rnd
for key in {keys!r}:
    fn, signature, constexprs = rnd.load(key, cache_dir())
    compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                              target=GPUTarget("cuda", 90, 32), options={{"num_warps": rnd.NUM_WARPS}})
    assert compiled.asm["cubin"], key
print("compiled", len({keys!r}))
"""


def test_kernels_compile_for_hopper():
    # The interpreter runs the kernels as Python, not through Triton's compiler: compile them for sm_90 as
    # well (no GPU needed; what kernels/compile.py does on the GPU machine), in a process without
    # TRITON_INTERPRET, so that typing errors in their loops show up here.
    import os
    import subprocess
    import sys
    keys = ["rng|perm_ties|int64|int64|c|g", "rng|perm_keys|int64|-|c|v", "rng|mn_draw|int64|bfloat16|g2|v",
            "rng|mn_race|float64|float16|g2|g", "rng|dropout|bfloat16|bfloat16|g2|v"]
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-c", COMPILE_CHECK.format(keys=keys)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and f"compiled {len(keys)}" in r.stdout, r.stderr[-3000:]
