"""The rotary position embedding Triton kernel, run by Triton's interpreter against the float64 numpy
reference (tests/fused_act_reference.py): both layouts, both pairings, partial rotation, strided inputs."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor.kernels import interpret_fused_act as run
from helpers import random_array, rng
import fused_act_reference as ref

triton = pytest.importorskip("triton")

TOL = {vt.float32: (1e-5, 1e-6), vt.float64: (1e-12, 1e-13), vt.bfloat16: (1.6e-2, 1e-2), vt.float16: (2e-3, 1e-3)}


def _np(t):
    return t.float().numpy().astype(np.float64) if t.dtype != vt.float64 else t.numpy()


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16, vt.float64])
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("seq_dim", [1, 2])
def test_rotary_matches_reference_and_inverts(dtype, interleaved, seq_dim):
    gen = rng()
    b, t, h, d = 2, 5, 3, 8  # 10 rows over programs of 4: the last program is masked
    shape = (b, t, h, d) if seq_dim == 1 else (b, h, t, d)
    x = random_array(shape, dtype, gen)
    cos, sin = ref.rotary_tables(t + 2, d // 2)  # longer tables than the sequence: its first t rows are used
    tdtype = vt.float64 if dtype == vt.float64 else vt.float32  # fp32 tables would cap float64's accuracy
    ct, st = vt.tensor(cos).to(tdtype), vt.tensor(sin).to(tdtype)
    xt = vt.tensor(x).to(dtype)
    y = run.rotary(xt, ct, st, seq_dim, interleaved, rows=4)
    rtol, atol = TOL[dtype]
    want = ref.rotary(x, cos, sin, seq_dim, interleaved)
    np.testing.assert_allclose(_np(y), want, rtol=rtol, atol=atol * 4)
    back = run.rotary(vt.tensor(want).to(dtype), ct, st, seq_dim, interleaved, inverse=True, rows=4)
    np.testing.assert_allclose(_np(back), ref.rotary(want, cos, sin, seq_dim, interleaved, inverse=True),
                               rtol=rtol, atol=atol * 4)


@pytest.mark.parametrize("interleaved", [False, True])
def test_rotary_partial_dims_and_strided_input(interleaved):
    gen = rng()
    qkv = random_array((2, 4, 3, 3, 12), vt.float32, gen)  # [B, T, (q, k, v), H, D]: q is a strided view
    cos, sin = ref.rotary_tables(4, 3)  # rotary dim 6 of 12: dims 6..12 pass through
    q = vt.tensor(qkv)[:, :, 0]
    assert not q.is_contiguous()
    y = run.rotary(q, vt.tensor(cos).float(), vt.tensor(sin).float(), 1, interleaved, rows=2)
    want = ref.rotary(qkv[:, :, 0], cos, sin, 1, interleaved)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y.numpy()[..., 6:], qkv[:, :, 0, :, 6:].astype(np.float32))
