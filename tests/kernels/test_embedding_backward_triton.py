"""The embedding backward Triton kernels (segmented sums over sorted indices), run by Triton's interpreter
against the float64 numpy reference (tests/fused_act_reference.py): runs inside a chunk, across chunks
and across many chunks, padding_idx, and the same bits from every run."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_fused_act as run
from helpers import random_array, rng
import fused_act_reference as ref

triton = pytest.importorskip("triton")


def _np(t):
    return t.float().numpy().astype(np.float64) if t.dtype != vt.float64 else t.numpy()


@pytest.mark.parametrize("dtype,itype", [(vt.float32, vt.int64), (vt.bfloat16, vt.int32), (vt.float64, vt.int64)])
def test_embedding_backward_matches_reference(dtype, itype):
    gen = rng()
    n, d, v = 23, 10, 9
    idx = gen.integers(0, v, size=n)
    idx[3:14] = 4  # one run over three chunks of 4 (head, whole chunks, tail)
    idx[20:] = 7  # a run ending the input
    grad = random_array((n, d), dtype, gen)
    got = run.embedding_backward(vt.tensor(grad).to(dtype), vt.tensor(idx).to(itype), v, chunk=4, block_d=8)
    want = ref.embedding_backward(grad, idx, v)
    tol = {vt.float32: 1e-5, vt.float64: 1e-12, vt.bfloat16: 1.6e-2}[dtype]
    np.testing.assert_allclose(_np(got), want, rtol=tol, atol=tol)


def test_embedding_backward_padding_rows_stay_zero_and_bits_repeat():
    gen = rng()
    n, d, v = 30, 5, 6
    idx = gen.integers(0, v, size=n)
    idx[::3] = 2  # padding_idx spread over every chunk
    grad = vt.tensor(random_array((n, d), vt.float32, gen))
    it = vt.tensor(idx)
    got = run.embedding_backward(grad, it, v, padding_idx=2, chunk=4, block_d=4)
    assert not got.numpy()[2].any()
    np.testing.assert_allclose(got.numpy(), ref.embedding_backward(grad.numpy(), idx, v, 2), rtol=1e-5, atol=1e-6)
    again = run.embedding_backward(grad, it, v, padding_idx=2, chunk=4, block_d=4)
    assert np.array_equal(got.numpy(), again.numpy())


def test_embedding_backward_single_index_and_empty():
    # one run over 20 chunks of 4: the join adds 16 chunk heads a step, so it takes two
    grad = vt.tensor(random_array((78, 3), vt.float32, rng()))
    got = run.embedding_backward(grad, vt.zeros(78, dtype=vt.int64), 2, chunk=4, block_d=4)
    np.testing.assert_allclose(got.numpy()[0], grad.numpy().astype(np.float64).sum(0), rtol=1e-5)
    assert not got.numpy()[1].any()
    empty = run.embedding_backward(vt.empty(0, 3), vt.empty(0, dtype=vt.int64), 4)
    assert tuple(empty.shape) == (4, 3) and not empty.numpy().any()
