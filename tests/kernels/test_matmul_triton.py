"""The generated matmul Triton kernel (the GEMM fallback when cuBLASLt is missing), run by Triton's
interpreter on tiny shapes against a float64 numpy reference."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_matmul
from vibetensor.kernels.triton import matmul as mm_gen
from helpers import random_array, rng

triton = pytest.importorskip("triton")

# (rtol, atol) per input dtype for k <= ~40 products of values in [-4, 4] (results up to ~600).
TOL = {vt.float64: (1e-12, 1e-10), vt.float32: (1e-5, 1e-4), vt.float16: (2e-3, 0.25), vt.bfloat16: (1e-2, 2.0)}


def operand(a, dtype, layout):
    """A 3-D tensor holding `a` (B, R, C): 'r' row-major, 'c' column-major per matrix, 's' row-major with a
    padded leading dim (a slice of a wider buffer)."""
    t = vt.tensor(a).to(dtype)
    if layout == "c":
        return t.transpose(1, 2).contiguous().transpose(1, 2)
    if layout == "s":
        wide = vt.zeros(a.shape[0], a.shape[1], a.shape[2] + 5, dtype=dtype)
        wide[:, :, : a.shape[2]].copy_(t)
        return wide[:, :, : a.shape[2]]
    return t


@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.bfloat16, vt.float64])
@pytest.mark.parametrize("layouts", ["rr", "cr", "rc", "cc", "sr"])
def test_batched_matmul_every_layout(dtype, layouts):
    gen = rng()
    a = random_array((2, 19, 37), dtype, gen)  # ragged against every tile size: masks on M, N and K
    b = random_array((2, 37, 21), dtype, gen)
    got = interpret_matmul.run_matmul(operand(a, dtype, layouts[0]), operand(b, dtype, layouts[1]),
                                      blocks=(16, 16, 16))
    assert got.dtype == dtype and tuple(got.shape) == (2, 19, 21)
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(got.to(vt.float64).numpy(), a @ b, rtol=rtol, atol=atol)


def test_alpha_beta_with_broadcast_bias_and_broadcast_batch():
    gen = rng()
    a = random_array((1, 20, 33), vt.float32, gen)
    b = random_array((3, 33, 18), vt.float32, gen)
    bias = random_array((18,), vt.float32, gen)
    ta = vt.tensor(a).to(vt.float32).expand(3, 20, 33)  # batch stride 0
    c = vt.tensor(bias).to(vt.float32)  # read at strides (0, 0, 1): no copy of the bias
    got = interpret_matmul.run_matmul(ta, vt.tensor(b).to(vt.float32), c=c, alpha=0.5, beta=-2.0, blocks=(16, 16, 16))
    np.testing.assert_allclose(got.numpy(), 0.5 * (a @ b) - 2.0 * bias, rtol=1e-5, atol=1e-4)


def test_half_inputs_accumulate_in_float32():
    # 256 products of 1 + 2^-9: a float16 accumulator would lose the increments; float32 keeps them.
    k = 256
    a = np.full((1, 16, k), 1 + 2.0 ** -9)
    b = np.ones((1, k, 16))
    got = interpret_matmul.run_matmul(vt.tensor(a).to(vt.float16), vt.tensor(b).to(vt.float16),
                                      out_dtype=vt.float32, blocks=(16, 16, 64))
    np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-6)


def test_keys_are_validated():
    with pytest.raises(ValueError):
        mm_gen.generate("ew|add|float32|float32|c|0")
    with pytest.raises(KeyError):
        mm_gen.generate("mm|int64|int64|0|rrn|16|16|16")
    with pytest.raises(KeyError):
        mm_gen.generate("mm|float32|float32|0|rrn|16|24|16")
    src, name, sig, consts = mm_gen.generate("mm|float32|float32|1|crg|64|64|32")
    assert 'input_precision="tf32"' in src and "c_ptr + batch * scb" in src and sig["alpha"] == "fp64"
    src, *_ = mm_gen.generate("mm|float32|float32|0|rrn|64|64|32")
    assert 'input_precision="ieee"' in src and "c_ptr +" not in src
