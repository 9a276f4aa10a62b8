"""mm, bmm, addmm, dot, matmul, outer and linear against float64 numpy references and torch.

GEMM results are compared with an error bound that scales with the reduction length: each output is a sum
of k products, so rounding grows like k * eps * sum(|a_ip| |b_pj|); the half types add their final rounding.
"""
import numpy as np
import pytest

import vibetensor as vt
from helpers import (FLOAT_DTYPES, INT_DTYPES, make, random_array, rng, to_numpy64, torch, torch_call,
                     torch_to_numpy)

NUMERIC = FLOAT_DTYPES + INT_DTYPES
# Accumulation precision (half types accumulate in float32) and the final rounding of the stored result.
ACC_EPS = {vt.float64: 2.0**-53, vt.float32: 2.0**-24, vt.float16: 2.0**-24, vt.bfloat16: 2.0**-24}
OUT_EPS = {vt.float64: 0.0, vt.float32: 2.0**-24, vt.float16: 2.0**-11, vt.bfloat16: 2.0**-8}
_NP_INT = {vt.uint8: np.uint8, vt.int8: np.int8, vt.int16: np.int16, vt.int32: np.int32, vt.int64: np.int64}


def matmul_reference(a, b, dtype):
    """(reference, per-element error bound) for a @ b in `dtype`; ints wrap like the stored type."""
    if not dtype.is_floating_point:
        return (a.astype(np.int64) @ b.astype(np.int64)).astype(_NP_INT[dtype]), None
    ref = np.matmul(a, b)
    k = a.shape[-1]
    bound = (k + 2) * ACC_EPS[dtype] * np.matmul(np.abs(a), np.abs(b)) + OUT_EPS[dtype] * np.abs(ref) + 1e-300
    return ref, bound


def assert_product_close(out, ref, bound, dtype):
    assert out.dtype == dtype
    got = to_numpy64(out)
    assert got.shape == ref.shape, f"shape {got.shape} != {ref.shape}"
    if bound is None:
        np.testing.assert_array_equal(got, ref)
        return
    err = np.abs(got - ref)
    worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.size else None
    assert err.size == 0 or np.all(err <= bound), f"error {err[worst]} > bound {bound[worst]} at {worst}"


def operands(shape_a, shape_b, dtype, gen):
    return random_array(shape_a, dtype, gen), random_array(shape_b, dtype, gen)


# ---- mm ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
@pytest.mark.parametrize("layouts", [("contiguous", "contiguous"), ("transposed", "contiguous"),
                                     ("contiguous", "transposed"), ("strided", "transposed")])
def test_mm_matches_reference(dtype, layouts):
    gen = rng()
    for m, k, n in [(5, 7, 3), (13, 20, 17)]:
        a, b = operands((m, k), (k, n), dtype, gen)
        out = vt.mm(make(a, dtype, layouts[0]), make(b, dtype, layouts[1]))
        assert_product_close(out, *matmul_reference(a, b, dtype), dtype)


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.bfloat16, vt.int32], ids=str)
def test_mm_crosses_cache_blocks_and_threads(dtype):
    # n > NC (4080 floats / 2040 doubles), k > KC (256), m > MC (144): every blocking loop runs more than once.
    gen = rng()
    m, k, n = (150, 300, 4100) if dtype != vt.int32 else (40, 70, 300)
    a, b = operands((m, k), (k, n), dtype, gen)
    out = make(a, dtype) @ make(b, dtype)
    assert_product_close(out, *matmul_reference(a, b, dtype), dtype)
    out_t = make(b.T.copy(), dtype).t() if dtype == vt.float32 else None  # B read column-wise from memory
    if out_t is not None:
        assert_product_close(make(a, dtype) @ out_t, *matmul_reference(a, b, dtype), dtype)


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.float16, vt.int16], ids=str)
@pytest.mark.parametrize("m,k,n", [(1, 9, 20), (20, 9, 1), (1, 1, 1), (7, 1, 5), (3, 0, 4), (0, 5, 4), (4, 5, 0),
                                   (0, 0, 0), (1, 600, 1)])
def test_mm_edge_shapes(dtype, m, k, n):
    a, b = operands((m, k), (k, n), dtype, rng())
    out = vt.mm(make(a, dtype), make(b, dtype))
    assert_product_close(out, *matmul_reference(a, b, dtype), dtype)
    if k == 0:  # an empty sum is zero
        assert np.all(to_numpy64(out) == 0)


def test_mm_reads_expanded_and_offset_operands():
    gen = rng()
    a = random_array((6, 1), vt.float32, gen)
    b = random_array((3, 9, 7), vt.float32, gen)
    ta = make(a, vt.float32).expand(6, 7)  # stride 0 along k
    tb = make(b, vt.float32)[1, 2:, ::2]  # storage offset, row stride 7, column stride 2
    out = vt.mm(ta, tb)
    assert_product_close(out, *matmul_reference(np.broadcast_to(a, (6, 7)), b[1, 2:, ::2], vt.float32), vt.float32)


def test_mm_transposed_inputs_are_not_copied():
    gen = rng()
    a = make(random_array((64, 48), vt.float32, gen), vt.float32)
    b = make(random_array((80, 64), vt.float32, gen), vt.float32)
    before = vt._C._cpu_memory_stats()["num_allocs"]
    out = vt.mm(a.t(), b.t())
    assert vt._C._cpu_memory_stats()["num_allocs"] - before == 1  # the result only
    assert_product_close(out, *matmul_reference(to_numpy64(a).T, to_numpy64(b).T, vt.float32), vt.float32)


def test_mm_ignores_nothing_it_should_propagate():
    a = vt.tensor([[1.0, float("nan")], [2.0, 3.0]])
    b = vt.tensor([[1.0, float("inf")], [1.0, 1.0]])
    out = vt.mm(a, b).numpy()
    assert np.isnan(out[0]).all() and out[1, 0] == 5.0 and np.isinf(out[1, 1])


@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.bfloat16, vt.int8, vt.uint8, vt.int64], ids=str)
def test_mm_torch_parity(dtype):
    gen = rng()
    a, b = operands((9, 30), (30, 11), dtype, gen)
    ta, tb = make(a, dtype), make(b, dtype, "transposed")
    expected = torch_to_numpy(torch_call("mm", ta, tb))
    got = to_numpy64(vt.mm(ta, tb))
    if dtype.is_floating_point:
        np.testing.assert_allclose(got, expected, rtol=2e-2 if dtype == vt.bfloat16 else 1e-5, atol=1e-3)
    else:
        np.testing.assert_array_equal(got, expected)  # including int8/uint8 wraparound


def test_mm_bad_inputs():
    f32 = vt.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        vt.mm(f32, vt.tensor(np.ones((4, 5), np.float32)))
    with pytest.raises(TypeError, match="expected m1 and m2 to have the same dtype, but got: float32 != float64"):
        vt.mm(f32, vt.tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match="self must be a matrix"):
        vt.mm(vt.tensor(np.ones(3, np.float32)), f32)
    with pytest.raises(ValueError, match="mat2 must be a matrix"):
        vt.mm(f32, vt.tensor(np.ones((1, 3, 2), np.float32)))
    with pytest.raises(TypeError, match="not implemented for 'Bool'"):
        vt.mm(vt.tensor(np.ones((2, 2), bool)), vt.tensor(np.ones((2, 2), bool)))


# ---- addmm -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.bfloat16, vt.int32], ids=str)
@pytest.mark.parametrize("self_shape", [(6, 5), (5,), (1, 5), (6, 1), ()], ids=str)
def test_addmm_matches_reference(dtype, self_shape):
    gen = rng()
    s, (a, b) = random_array(self_shape, dtype, gen), operands((6, 7), (7, 5), dtype, gen)
    scalars = [(1, 1), (2, 3), (-1, 0)] if not dtype.is_floating_point else [(1, 1), (0.5, -2.0), (2, 0)]
    for beta, alpha in scalars:
        out = vt.addmm(make(s, dtype).reshape(self_shape), make(a, dtype, "transposed"), make(b, dtype), beta=beta, alpha=alpha)
        prod, bound = matmul_reference(a, b, dtype)
        if dtype.is_floating_point:
            ref = beta * s.astype(np.float64) + alpha * prod
            bound = abs(alpha) * bound + OUT_EPS[dtype] * (np.abs(ref) + abs(beta) * np.abs(s)) + 1e-12
        else:
            ref = (beta * s.astype(np.int64) + alpha * (a.astype(np.int64) @ b.astype(np.int64))).astype(_NP_INT[dtype])
        assert_product_close(out, np.broadcast_to(ref, (6, 5)), bound, dtype)


def test_addmm_beta_zero_ignores_self_and_alpha_zero_ignores_product():
    nan = float("nan")
    a = vt.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    b = vt.tensor(np.ones((3, 2), np.float32))
    out = vt.addmm(vt.full([2, 2], nan), a, b, beta=0)
    np.testing.assert_array_equal(out.numpy(), [[3, 3], [12, 12]])
    out = vt.addmm(vt.ones(2, 2), vt.full([2, 3], nan), b, alpha=0, beta=2)
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), 2.0))
    assert vt.addmm(vt.ones(2, 2), a[:, :0], b[:0], beta=3).numpy().tolist() == [[3, 3], [3, 3]]  # k == 0


def test_addmm_integer_scalars_truncate_like_torch():
    gen = rng()
    s, a, b = (random_array(sh, vt.int64, gen) for sh in [(3, 4), (3, 5), (5, 4)])
    got = vt.addmm(make(s, vt.int64), make(a, vt.int64), make(b, vt.int64), beta=2.7, alpha=1.5)
    expected = torch_call("addmm", make(s, vt.int64), make(a, vt.int64), make(b, vt.int64), beta=2.7, alpha=1.5)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_addmm_bad_inputs():
    m = vt.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="must match the existing size"):
        vt.addmm(vt.ones(4), m, vt.ones(3, 3))
    with pytest.raises(TypeError, match="self and mat2 must have the same dtype, but got Double and Float"):
        vt.addmm(vt.ones(2, 3, dtype=vt.float64), m, vt.ones(3, 3))
    with pytest.raises(ValueError, match="mat1 must be a matrix"):
        vt.addmm(vt.ones(3), vt.ones(3), vt.ones(3, 3))
    with pytest.raises(ValueError, match=r"shapes cannot be multiplied \(2x3 and 2x3\)"):
        vt.addmm(vt.ones(2, 3), m, m)


# ---- bmm ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
def test_bmm_matches_reference(dtype):
    gen = rng()
    a, b = operands((4, 5, 6), (4, 6, 3), dtype, gen)
    tb = make(b.transpose(0, 2, 1).copy(), dtype).transpose(1, 2)  # each matrix column-major
    out = vt.bmm(make(a, dtype, "strided"), tb)
    assert_product_close(out, *matmul_reference(a, b, dtype), dtype)


def test_bmm_broadcast_batch_and_many_small_products():
    gen = rng()
    a = random_array((1, 64, 64), vt.float32, gen)
    b = random_array((40, 64, 64), vt.float32, gen)
    out = vt.bmm(make(a, vt.float32).expand(40, 64, 64), make(b, vt.float32))  # batch stride 0, split over threads
    assert_product_close(out, *matmul_reference(np.broadcast_to(a, (40, 64, 64)), b, vt.float32), vt.float32)
    empty = vt.bmm(vt.ones(0, 2, 3), vt.ones(0, 3, 4))
    assert empty.shape == (0, 2, 4)
    zero_k = vt.bmm(vt.ones(2, 2, 0), vt.ones(2, 0, 4))
    assert zero_k.shape == (2, 2, 4) and not zero_k.numpy().any()


def test_bmm_bad_inputs():
    with pytest.raises(ValueError, match="batch1 must be a 3D tensor"):
        vt.bmm(vt.ones(2, 3), vt.ones(2, 3, 4))
    with pytest.raises(ValueError, match="batch2 must be a 3D tensor"):
        vt.bmm(vt.ones(2, 2, 3), vt.ones(2, 3))
    with pytest.raises(ValueError, match=r"batch2 tensor to be: \[2, 3\] but got: \[3, 3\]"):
        vt.bmm(vt.ones(2, 2, 3), vt.ones(3, 3, 4))
    with pytest.raises(TypeError, match="expected scalar type Float but found Double"):
        vt.bmm(vt.ones(2, 2, 3), vt.ones(2, 3, 4, dtype=vt.float64))
    with pytest.raises(TypeError, match="not implemented for 'Bool'"):
        vt.bmm(vt.ones(1, 2, 2, dtype=vt.bool), vt.ones(1, 2, 2, dtype=vt.bool))


# ---- dot ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
def test_dot_matches_reference(dtype):
    gen = rng()
    for n in [0, 1, 7, 1_100_003]:  # the long one is split over threads
        a, b = operands((n,), (2 * n,), dtype, gen)
        out = vt.dot(make(a, dtype), make(b, dtype)[::2])
        assert out.shape == ()
        assert_product_close(out, *matmul_reference(a, b[::2], dtype), dtype)


def test_dot_bad_inputs():
    with pytest.raises(ValueError, match="1D tensors expected, but got 2D and 1D tensors"):
        vt.dot(vt.ones(3, 1), vt.ones(3))
    with pytest.raises(ValueError, match=r"inconsistent tensor size, expected tensor \[3\] and src \[4\]"):
        vt.dot(vt.ones(3), vt.ones(4))
    with pytest.raises(TypeError, match="dot : expected both vectors to have same dtype, but found Float and Double"):
        vt.dot(vt.ones(3), vt.ones(3, dtype=vt.float64))
    with pytest.raises(TypeError, match="\"dot\" not implemented for 'Bool'"):
        vt.dot(vt.ones(3, dtype=vt.bool), vt.ones(3, dtype=vt.bool))


# ---- matmul ------------------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)),  # dot, mv, vm, mm
    ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (4, 5)),  # batch folded into rows
    ((4,), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)),  # batched
    ((1, 3, 4), (6, 4, 5)), ((5, 1, 3, 4), (2, 4, 5)), ((2, 3, 4), (3, 1, 4, 5)),  # broadcast batch dims
    ((0, 3, 4), (4, 5)), ((2, 3, 0), (2, 0, 5)), ((2, 0, 4), (1, 4, 5)), ((2, 3, 0), (0, 5)),  # empty
    ((3, 0), (0,)), ((0,), (0,)),
]


@pytest.mark.parametrize("shape_a,shape_b", MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [vt.float32, vt.float64, vt.int32], ids=str)
def test_matmul_broadcasting_rules(shape_a, shape_b, dtype):
    gen = rng()
    a, b = operands(shape_a, shape_b, dtype, gen)
    ta, tb = make(a, dtype, "transposed"), make(b, dtype)
    out = vt.matmul(ta, tb)
    assert_product_close(out, *matmul_reference(a, b, dtype), dtype)
    assert (ta @ tb).shape == out.shape
    assert tuple(torch_call("matmul", ta, tb).shape) == tuple(out.shape)


def test_matmul_bad_inputs():
    with pytest.raises(ValueError, match="both arguments to matmul need to be at least 1D, but they are 0D and 2D"):
        vt.matmul(vt.ones([]), vt.ones(2, 3))
    with pytest.raises(ValueError, match=r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)"):
        vt.matmul(vt.ones(2, 3), vt.ones(4))
    with pytest.raises(ValueError, match=r"shapes cannot be multiplied \(1x3 and 4x5\)"):
        vt.matmul(vt.ones(3), vt.ones(4, 5))
    with pytest.raises(ValueError, match=r"batch2 tensor to be: \[2, 3\] but got: \[2, 4\]"):
        vt.matmul(vt.ones(2, 2, 3), vt.ones(2, 4, 5))
    with pytest.raises(ValueError):
        vt.matmul(vt.ones(2, 2, 3), vt.ones(3, 3, 5))  # batch dims 2 and 3 do not broadcast
    with pytest.raises(TypeError, match="not implemented for 'Bool'"):
        vt.ones(2, 2, dtype=vt.bool) @ vt.ones(2, 2, dtype=vt.bool)


# ---- outer and linear --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype_a,dtype_b", [(vt.float32, vt.float32), (vt.int32, vt.float64), (vt.bool, vt.bool),
                                             (vt.bfloat16, vt.bfloat16), (vt.int8, vt.int64)], ids=str)
def test_outer(dtype_a, dtype_b):
    gen = rng()
    a, b = random_array((5,), dtype_a, gen), random_array((2 * 4,), dtype_b, gen)
    ta, tb = make(a, dtype_a), make(b, dtype_b)[::2]
    out = vt.outer(ta, tb)
    expected = torch_call("outer", ta, tb)
    assert out.dtype.name == str(expected.dtype).replace("torch.", "")
    np.testing.assert_allclose(to_numpy64(out), torch_to_numpy(expected).astype(np.float64), rtol=1e-2)
    np.testing.assert_allclose(to_numpy64(out), np.outer(a.astype(np.float64), b[::2].astype(np.float64)), rtol=1e-2)
    with pytest.raises(ValueError, match="outer: Expected 1-D argument self, but got 2-D"):
        vt.outer(vt.ones(2, 3), vt.ones(4))


# A 4-d input folds into rows as a view (contiguous, or "strided": every other element of the last dim) or
# cannot ("transposed"); k == 0 and an empty batch fold too.
LINEAR_SHAPES = [(6, 7), (7,), (2, 3, 7), (2, 3, 4, 7), (0, 7), (0, 3, 7), (2, 3, 0)]


@pytest.mark.parametrize("input_shape", LINEAR_SHAPES, ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "strided", "transposed"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear(input_shape, layout, with_bias):
    gen = rng()
    k = input_shape[-1]
    x, w, bias = (random_array(s, vt.float32, gen) for s in [input_shape, (5, k), (5,)])
    tx, tw = make(x, vt.float32, layout), make(w, vt.float32)
    tb = make(bias, vt.float32) if with_bias else None
    out = vt._C._ops.linear(tx, tw, tb)
    ref, bound = matmul_reference(x, w.T, vt.float32)
    if with_bias:
        ref = ref + bias
        bound = bound + 2.0**-23 * np.abs(ref)
    assert_product_close(out, ref, bound, vt.float32)
    if torch is not None:
        expected = torch.nn.functional.linear(*[torch.from_numpy(v.astype(np.float32)) for v in [x, w]],
                                              torch.from_numpy(bias.astype(np.float32)) if with_bias else None)
        assert tuple(out.shape) == tuple(expected.shape)
        np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-4)


def _recorded_ops(out):
    """Names of the autograd nodes behind `out`: the ops the call ran."""
    seen, todo = set(), [out.grad_fn]
    while todo:
        node = todo.pop()
        seen.add(node.name())
        todo += [e[0] for e in node.next_functions if e is not None and e[0].name() != "AccumulateGrad"]
    return seen


@pytest.mark.parametrize("layout", ["contiguous", "strided", "transposed"])
@pytest.mark.parametrize("weight_dims,bias_shape", [(2, (5,)), (2, None), (2, (4, 5)), (1, ())])
def test_linear_is_one_autograd_node_and_matches_torch(layout, weight_dims, bias_shape):
    """linear records one node (its composite's t, views and addmm would be four, each a node to run in
    backward) for every input layout, weight rank and bias shape, and its forward and gradients are torch's;
    the weight's gradient is contiguous (not the transposed view the composite's t() gave back)."""
    gen = rng()
    x = make(random_array((2, 3, 4, 7), vt.float64, gen), vt.float64, layout).requires_grad_(True)
    w = vt.tensor(random_array((5, 7) if weight_dims == 2 else (7,), vt.float64, gen)).requires_grad_(True)
    b = None if bias_shape is None else vt.tensor(random_array(bias_shape, vt.float64, gen)).requires_grad_(True)
    out = vt._C._ops.linear(x, w, b)
    assert _recorded_ops(out) == {"LinearBackward0"}
    g = vt.tensor(random_array(tuple(out.shape), vt.float64, gen))
    out.backward(g)
    assert w.grad.is_contiguous()
    if torch is None:
        return
    tx, tw = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (x, w))
    tb = None if b is None else torch.tensor(b.detach().numpy(), requires_grad=True)
    tout = torch.nn.functional.linear(tx, tw, tb)
    tout.backward(torch.tensor(g.numpy()))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        if ours is not None:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(torch is None, reason="torch not installed")
@pytest.mark.parametrize("layout", ["contiguous", "strided", "transposed"])
@pytest.mark.parametrize("bias_shape", [(5,), (4, 5), None], ids=str)
def test_linear_backward_matches_torch(layout, bias_shape):
    gen = rng()
    arrays = [random_array(s, vt.float64, gen) for s in [(2, 3, 4, 7), (5, 7), bias_shape or (5,)]]
    ours = [make(arrays[0], vt.float64, layout)] + [vt.tensor(a) for a in arrays[1:]]
    ours = [t.requires_grad_(True) for t in ours]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    if bias_shape is None:
        ours[2] = theirs[2] = None
    grad_out = random_array((2, 3, 4, 5), vt.float64, gen)
    out_v = vt._C._ops.linear(*ours)
    out_t = torch.nn.functional.linear(*theirs)
    assert tuple(out_v.shape) == tuple(out_t.shape)
    np.testing.assert_allclose(out_v.detach().numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    out_v.backward(vt.tensor(grad_out))
    out_t.backward(torch.tensor(grad_out))
    for a, b in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_linear_bad_inputs():
    with pytest.raises(ValueError, match=r"shapes cannot be multiplied \(2x3 and 5x4\)"):
        vt._C._ops.linear(vt.ones(2, 3), vt.ones(4, 5))
    with pytest.raises(TypeError, match="bias and weight must have the same dtype"):
        vt._C._ops.linear(vt.ones(2, 3), vt.ones(4, 3), vt.ones(4, dtype=vt.float64))


@pytest.mark.parametrize("shapes", [((2, 3, 4), (5, 4), (5,)), ((4,), (5, 4), None), ((3, 4), (5, 4), (3, 5)),
                                    ((4,), (4,), None), ((3, 4), (4,), ()), ((2, 3, 4), (4,), (2, 3))])
def test_linear_gradcheck_and_double_backward(shapes):
    """linear's row against finite differences, and its backward differentiable again (the row's formulas are
    ops autograd records under create_graph), for 2-D and 1-D weights and biases of several shapes."""
    gen = rng()
    args = tuple(vt.tensor(gen.standard_normal(s)).requires_grad_(True) for s in shapes if s is not None)
    assert vt.autograd.gradcheck(vt.nn.functional.linear, args)
    assert vt.autograd.gradgradcheck(vt.nn.functional.linear, args)
