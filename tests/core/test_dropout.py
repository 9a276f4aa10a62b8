"""Dropout: vt.dropout (Composite) over the fused native_dropout, whose bool mask is the bernoulli_ draw of
the same seed and whose backward is grad * mask * scale; float64 references, autograd, bad input and torch
parity (shapes and dtypes: the values are random). The CUDA kernels are tested in
tests/kernels/test_random_triton.py (interpreter) and tests/cuda/test_random_cuda.py."""
import math
import re

import numpy as np
import pytest

import vibetensor as vt
from helpers import make, random_array, rng, torch, torch_call

FLOATS = [vt.float32, vt.float64, vt.float16, vt.bfloat16]


def as64(t):
    return t.detach().to(vt.float64).numpy()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_native_dropout_is_the_bernoulli_mask_scaled(dtype, layout):
    x = make(random_array((33, 40), dtype, rng()), dtype, layout)
    p = 0.3
    vt.manual_seed(21)
    out, mask = vt.native_dropout(x, p, True)
    vt.manual_seed(21)
    want_mask = vt.empty(33, 40, dtype=vt.bool).bernoulli_(1 - p).numpy()  # the same words, read alike
    assert out.dtype == dtype and mask.dtype == vt.bool and out.shape == mask.shape == x.shape
    np.testing.assert_array_equal(mask.numpy(), want_mask)
    # (x * mask) * scale in the compute type (float32 for the half types), rounded once
    compute = np.float64 if dtype == vt.float64 else np.float32
    xm = as64(x).astype(compute) * want_mask.astype(compute)
    want = vt.tensor(xm * compute(1 / (1 - p))).to(dtype)
    np.testing.assert_array_equal(as64(out), as64(want))
    assert abs(mask.numpy().mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / mask.numel())


def test_dropout_keeps_its_draws_and_edge_cases():
    x = vt.rand(50, 60) + 0.5
    vt.manual_seed(5)
    y = vt.dropout(x, 0.25)
    vt.manual_seed(5)
    out, mask = vt.native_dropout(x, 0.25, None)  # train=None means training, as in torch
    np.testing.assert_array_equal(y.numpy(), out.numpy())
    # p = 1 draws nothing and zeroes; p = 0, eval mode and empty inputs return the input itself
    vt.manual_seed(5)
    assert (vt.dropout(x, 1.0).numpy() == 0).all()
    assert vt.dropout(x, 0.0).data_ptr() == vt.dropout(x, 0.5, False).data_ptr() == x.data_ptr()
    assert vt.dropout(vt.empty(0), 0.5).shape == (0,)
    after = vt.rand(3).numpy()
    vt.manual_seed(5)
    np.testing.assert_array_equal(vt.rand(3).numpy(), after)  # none of them moved the generator
    ones, everything = vt.native_dropout(x, 0.5, False)  # eval: a copy and an all-true mask
    assert ones.data_ptr() != x.data_ptr() and (ones.numpy() == x.numpy()).all() and everything.numpy().all()
    zeros, none = vt.native_dropout(x, 1.0, True)
    assert (zeros.numpy() == 0).all() and not none.numpy().any()
    e_out, e_mask = vt.native_dropout(vt.empty(0, 3), 0.5, True)
    assert e_out.shape == e_mask.shape == (0, 3) and e_mask.dtype == vt.bool
    # dropped elements are x * 0, as in PyTorch: NaN for an infinite input, -0.0 for a negative one
    vt.manual_seed(1)
    inf_out, inf_mask = vt.native_dropout(vt.full((64,), -math.inf), 0.5, True)
    v = inf_out.numpy()
    assert np.isnan(v[~inf_mask.numpy()]).all() and (v[inf_mask.numpy()] == -math.inf).all()


@pytest.mark.parametrize("dtype", FLOATS)
def test_backward_is_grad_times_mask_times_scale(dtype):
    gen = rng()
    g = vt.tensor(random_array((7, 9), dtype, gen)).to(dtype)
    mask = vt.tensor(gen.integers(0, 2, size=(7, 9)).astype(bool))
    got = vt.native_dropout_backward(g, mask, 1 / 0.6)
    compute = np.float64 if dtype == vt.float64 else np.float32
    want = vt.tensor(as64(g).astype(compute) * mask.numpy().astype(compute) * compute(1 / 0.6)).to(dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(as64(got), as64(want))
    row = vt.native_dropout_backward(g, mask[:1], 2.0)  # the mask broadcasts like any operand
    np.testing.assert_array_equal(as64(row), as64(g) * mask[:1].numpy() * 2.0)
    strided = vt.native_dropout_backward(g.t(), mask.t(), 1.0)
    np.testing.assert_array_equal(as64(strided), (as64(g) * mask.numpy()).T)


def test_autograd_saves_the_mask_and_scales_the_gradient():
    x = vt.tensor(rng().uniform(0.5, 2.0, size=(40, 30)), requires_grad=True)
    vt.manual_seed(9)
    y = vt.dropout(x, 0.4)
    assert type(y.grad_fn).__name__ == "NativeDropoutBackward0"
    g = vt.tensor(rng().standard_normal((40, 30)))
    (dx,) = vt.autograd.grad(y, [x], g)
    kept = y.detach().numpy() != 0
    np.testing.assert_array_equal(dx.numpy(), g.numpy() * kept * (1 / 0.6))  # float64: exact
    y.detach().mul_(2)  # the derivative reads only the mask: changing the output later is fine
    (again,) = vt.autograd.grad(vt.dropout(x, 0.0), [x], g)
    np.testing.assert_array_equal(again.numpy(), g.numpy())
    out, mask = vt.native_dropout(x, 0.4, False)  # eval mode: the identity's gradient
    (ident,) = vt.autograd.grad(out, [x], g)
    np.testing.assert_array_equal(ident.numpy(), g.numpy())
    assert not mask.requires_grad


@pytest.mark.parametrize("fn,exc,msg", [
    (lambda: vt.native_dropout(vt.ones(3), 1.5, True), ValueError, "between 0 and 1, but got 1.5"),
    (lambda: vt.native_dropout(vt.ones(3), -0.5, False), ValueError, "between 0 and 1"),
    (lambda: vt.native_dropout(vt.ones(3, dtype=vt.int32), 0.5, True), TypeError, "floating point"),
    (lambda: vt.native_dropout_backward(vt.ones(3), vt.ones(3), 2.0), TypeError, "expected a bool mask"),
    (lambda: vt.native_dropout_backward(vt.ones(3, dtype=vt.int64), vt.ones(3, dtype=vt.bool), 2.0), TypeError,
     "floating point gradient"),
    (lambda: vt.native_dropout_backward(vt.ones(3), vt.ones(4, dtype=vt.bool), 2.0), ValueError, "must match the size"),
    (lambda: vt.nn.Dropout(1.2), ValueError, "between 0 and 1"),
])
def test_bad_input_raises_clearly(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


def test_module_and_functional_keep_their_api():
    m = vt.nn.Dropout(0.5)
    x = vt.ones(1000)
    assert set(np.unique(m(x).numpy()).tolist()) <= {0.0, 2.0}
    m.eval()
    assert m(x).data_ptr() == x.data_ptr()
    y = vt.ones(1000)
    same = vt.nn.functional.dropout(y, 0.5, True, inplace=True)
    assert same.data_ptr() == y.data_ptr() and set(np.unique(y.numpy()).tolist()) <= {0.0, 2.0}


def test_parity_with_torch():
    if torch is None:
        pytest.skip("torch is not installed")
    x = vt.rand(4, 5, dtype=vt.float64)
    out, mask = vt.native_dropout(x, 0.3, True)
    t_out, t_mask = torch_call("native_dropout", x, 0.3, True)
    # torch's CPU mask has the input's dtype, its CUDA mask is bool like ours on every device
    assert tuple(out.shape) == tuple(t_out.shape) and tuple(mask.shape) == tuple(t_mask.shape)
    assert str(t_out.dtype) == "torch.float64" and out.dtype == vt.float64
    _, t_eval = torch_call("native_dropout", x, 0.3, False)  # eval mode: an all-true bool mask on both
    _, eval_mask = vt.native_dropout(x, 0.3, False)
    assert t_eval.dtype == torch.bool and eval_mask.dtype == vt.bool and t_eval.all() and eval_mask.numpy().all()
    g = vt.rand(4, 5)
    b = vt.tensor(np.arange(20).reshape(4, 5) % 3 == 0)
    theirs = torch.ops.aten.native_dropout_backward(torch.from_numpy(g.numpy()), torch.from_numpy(b.numpy()), 1.5)
    np.testing.assert_array_equal(vt.native_dropout_backward(g, b, 1.5).numpy(), theirs.numpy())
    assert tuple(vt.dropout(x, 0.3).shape) == tuple(torch_call("dropout", x, 0.3, True).shape)
