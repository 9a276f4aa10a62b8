"""Matrix products on the GPU (cuBLASLt, or the generated Triton GEMM) against a float64 reference:
mm, bmm, addmm, dot and the composites over them (matmul with broadcasting, linear, outer), every dtype and
operand layout, TF32 on and off, autograd, empty dims and bad input."""
import contextlib

import numpy as np
import pytest

import vibetensor as vt
from helpers import random_array, rng

pytestmark = pytest.mark.cuda

FLOATS = [vt.float32, vt.float16, vt.bfloat16, vt.float64]
# Allowed |error| as a fraction of sum_k |a_ik| |b_kj| (rounding of inputs to TF32, of the result to the dtype).
REL = {vt.float64: 1e-12, vt.float32: 1e-5, vt.float16: 2e-3, vt.bfloat16: 1e-2}
TF32_REL = 3e-3


def on_gpu(arr, dtype, layout="contiguous"):
    """A CUDA tensor holding the 2-D array arr (float64 values representable in dtype), laid out as asked:
    contiguous, transposed (column-major), sliced (row-major with a padded leading dim), sliced_t (column-major
    with a padded leading dim), or strided (both strides > 1: the backends copy it first)."""
    arr = np.asarray(arr, np.float64)
    r, c = arr.shape
    if layout == "contiguous":
        return vt.tensor(arr).to(dtype).cuda()
    if layout == "transposed":
        return vt.tensor(np.ascontiguousarray(arr.T)).to(dtype).cuda().t()
    if layout == "sliced":
        return vt.tensor(np.pad(arr, ((0, 0), (0, 5)))).to(dtype).cuda()[:, :c]
    if layout == "sliced_t":
        return vt.tensor(np.pad(arr.T, ((0, 0), (0, 3)))).to(dtype).cuda().t()[:r]
    if layout == "strided":
        wide = np.zeros((r, 2 * c))
        wide[:, ::2] = arr
        return vt.tensor(wide).to(dtype).cuda()[:, ::2]
    raise ValueError(layout)


def check(got, a, b, dtype, extra=0.0, rel=None, bias=None):
    """got (CUDA) against a @ b (+ bias) in float64, within rel * (|a| @ |b|) (+ the bias's own rounding)."""
    assert got.is_cuda and got.dtype == dtype
    want = np.matmul(a, b) + (0 if bias is None else bias)
    bound = np.matmul(np.abs(a), np.abs(b)) + (0 if bias is None else np.abs(bias)) + extra
    err = np.abs(got.cpu().to(vt.float64).numpy() - want)
    limit = (rel or REL[dtype]) * bound + 1e-30
    assert err.shape == want.shape
    assert (err <= limit).all(), f"max error {err.max()} (allowed {limit.ravel()[err.argmax()]})"


@contextlib.contextmanager
def tf32(enabled):
    before = vt.backends.cuda.matmul.allow_tf32
    vt.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        vt.backends.cuda.matmul.allow_tf32 = before


@contextlib.contextmanager
def backend(name):
    before = vt.backends.cuda.preferred_blas_library()
    vt.backends.cuda.preferred_blas_library(name)
    try:
        yield
    finally:
        vt.backends.cuda.preferred_blas_library(before)


LAYOUTS = ["contiguous", "transposed", "sliced", "sliced_t", "strided"]


@pytest.mark.parametrize("dtype", FLOATS)
def test_mm_every_layout(dtype):
    gen = rng()
    a = random_array((67, 45), dtype, gen)
    b = random_array((45, 33), dtype, gen)
    for la in LAYOUTS:
        for lb in LAYOUTS:
            check(vt.mm(on_gpu(a, dtype, la), on_gpu(b, dtype, lb)), a, b, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_bmm_strided_transposed_and_expanded_batches(dtype):
    gen = rng()
    a = random_array((3, 20, 30), dtype, gen)
    b = random_array((3, 30, 12), dtype, gen)
    ga, gb = vt.tensor(a).to(dtype).cuda(), vt.tensor(b).to(dtype).cuda()
    check(vt.bmm(ga, gb), a, b, dtype)
    check(vt.bmm(ga.transpose(1, 2).contiguous().transpose(1, 2), gb.transpose(1, 2).contiguous().transpose(1, 2)),
          a, b, dtype)
    big = vt.tensor(np.concatenate([a, a * 0.5])).to(dtype).cuda()
    check(vt.bmm(big[::2][:3], gb), np.concatenate([a, a * 0.5])[::2][:3], b, dtype)  # batch stride 2 * m * k
    one = ga[:1].expand(3, 20, 30)  # batch stride 0
    check(vt.bmm(one, gb), np.broadcast_to(a[:1], (3, 20, 30)), b, dtype)
    check(vt.bmm(ga[:, :, :29], gb[:, :29, :]), a[:, :, :29], b[:, :29, :], dtype)  # sliced in every batch


@pytest.mark.parametrize("dtype", [vt.float32, vt.bfloat16])
def test_matmul_composite_broadcasting_reaches_the_gpu_kernels(dtype):
    gen = rng()
    cases = [((2, 1, 5, 7), (3, 7, 4)), ((5, 7), (7,)), ((7,), (7, 4)), ((7,), (7,)), ((4, 5, 7), (7, 6)),
             ((4, 5, 7), (7,)), ((7,), (2, 7, 3)), ((1, 5, 7), (2, 7, 3))]
    for sa, sb in cases:
        a, b = random_array(sa, dtype, gen), random_array(sb, dtype, gen)
        got = vt.matmul(vt.tensor(a).to(dtype).cuda(), vt.tensor(b).to(dtype).cuda())
        want = np.matmul(a, b)
        assert tuple(got.shape) == want.shape, (sa, sb)
        bound = np.matmul(np.abs(a), np.abs(b))
        err = np.abs(got.cpu().to(vt.float64).numpy() - want)
        assert (err <= REL[dtype] * bound + 1e-30).all(), (sa, sb)
    x = vt.tensor(random_array((3, 4), dtype, gen)).to(dtype).cuda()
    assert (x @ x.t()).is_cuda


@pytest.mark.parametrize("dtype", FLOATS)
def test_addmm_bias_shapes_alpha_beta(dtype):
    gen = rng()
    a = random_array((40, 24), dtype, gen)
    b = random_array((24, 18), dtype, gen)
    ga, gb = on_gpu(a, dtype), on_gpu(b, dtype)
    for shape in [(18,), (1, 18), (40, 18), (40, 1), ()]:  # 1-D bias: cuBLASLt's bias epilogue
        bias = random_array(shape, dtype, gen)
        gbias = vt.tensor(bias).to(dtype).cuda()
        check(vt.addmm(gbias, ga, gb), a, b, dtype, bias=bias)
        check(vt.addmm(gbias, ga, gb, beta=0.5, alpha=2.0), 2 * a, b, dtype, bias=0.5 * bias)
    nan_bias = vt.full((40, 18), float("nan"), dtype=dtype, device="cuda")
    check(vt.addmm(nan_bias, ga, gb, beta=0), a, b, dtype)  # beta == 0: the input is never read
    check(vt.addmm(nan_bias[0], ga.t().contiguous().t(), gb, beta=0.0, alpha=-1.0), -a, b, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_and_outer(dtype):
    gen = rng()
    x = random_array((2, 9, 16), dtype, gen)
    w = random_array((10, 16), dtype, gen)
    bias = random_array((10,), dtype, gen)
    gx, gw, gbias = (vt.tensor(v).to(dtype).cuda() for v in (x, w, bias))
    check(vt.nn.functional.linear(gx[0], gw, gbias), x[0], w.T, dtype, bias=bias)
    check(vt.nn.functional.linear(gx, gw, gbias), x, w.T, dtype, bias=bias)
    check(vt.nn.functional.linear(gx, gw), x, w.T, dtype)
    # a batch folded into rows as a view with padded rows (one addmm), and one that cannot fold (matmul + add)
    padded = vt.tensor(np.pad(x, ((0, 0), (0, 0), (0, 3)))).to(dtype).cuda()[..., :16]
    check(vt.nn.functional.linear(padded, gw, gbias), x, w.T, dtype, bias=bias)
    check(vt.nn.functional.linear(gx.transpose(0, 1), gw, gbias), x.transpose(1, 0, 2), w.T, dtype, bias=bias)
    u, v = random_array((5,), dtype, gen), random_array((7,), dtype, gen)
    check(vt.outer(vt.tensor(u).to(dtype).cuda(), vt.tensor(v).to(dtype).cuda()), u[:, None], v[None, :], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_dot(dtype):
    gen = rng()
    a, b = random_array((301,), dtype, gen), random_array((602,), dtype, gen)
    ga, gb = vt.tensor(a).to(dtype).cuda(), vt.tensor(b).to(dtype).cuda()
    got = vt.dot(ga, gb[::2])  # a strided vector is read in place
    assert got.shape == () and got.is_cuda and got.dtype == dtype
    check(got.reshape(1, 1), a[None, :], b[::2][:, None], dtype)
    with tf32(True):  # dot is exact in float32 whatever the TF32 switch says (as in PyTorch)
        if dtype == vt.float32:
            check(vt.dot(ga, gb[:301]).reshape(1, 1), a[None, :], b[:301][:, None], dtype)


def test_empty_dims():
    a = vt.ones(4, 0, device="cuda")
    b = vt.ones(0, 3, device="cuda")
    assert vt.mm(a, b).cpu().tolist() == [[0.0] * 3] * 4
    bias = vt.tensor([1.0, 2.0, 3.0]).cuda()
    assert vt.addmm(bias, a, b, beta=2.0).cpu().tolist() == [[2.0, 4.0, 6.0]] * 4
    assert vt.addmm(vt.full((3,), float("nan"), device="cuda"), a, b, beta=0).cpu().tolist() == [[0.0] * 3] * 4
    assert tuple(vt.mm(vt.ones(0, 5, device="cuda"), vt.ones(5, 3, device="cuda")).shape) == (0, 3)
    assert tuple(vt.mm(vt.ones(2, 5, device="cuda"), vt.ones(5, 0, device="cuda")).shape) == (2, 0)
    assert tuple(vt.bmm(vt.ones(0, 2, 5, device="cuda"), vt.ones(0, 5, 3, device="cuda")).shape) == (0, 2, 3)
    assert vt.dot(vt.ones(0, device="cuda"), vt.ones(0, device="cuda")).item() == 0.0
    assert tuple(vt.matmul(vt.ones(2, 3, 0, device="cuda"), vt.ones(0, 4, device="cuda")).shape) == (2, 3, 4)


def test_tf32_switch_and_float32_precision():
    gen = rng()
    a = gen.uniform(-1, 1, size=(64, 1024)).astype(np.float32).astype(np.float64)  # exact in float32
    b = gen.uniform(-1, 1, size=(1024, 64)).astype(np.float32).astype(np.float64)
    ga, gb = on_gpu(a, vt.float32), on_gpu(b, vt.float32)
    want = a @ b
    scale = np.abs(a) @ np.abs(b)
    assert vt.backends.cuda.matmul.allow_tf32 is False and vt.get_float32_matmul_precision() == "highest"
    exact = np.abs(vt.mm(ga, gb).cpu().to(vt.float64).numpy() - want) / scale
    assert exact.max() < 1e-5
    with tf32(True):
        assert vt.get_float32_matmul_precision() == "high"
        rounded = np.abs(vt.mm(ga, gb).cpu().to(vt.float64).numpy() - want) / scale
        assert rounded.max() < TF32_REL
        assert rounded.max() > 10 * exact.max(), (rounded.max(), exact.max())  # TF32 really was used
    vt.set_float32_matmul_precision("medium")
    try:
        assert vt.backends.cuda.matmul.allow_tf32 is True
    finally:
        vt.set_float32_matmul_precision("highest")
    assert vt.backends.cuda.matmul.allow_tf32 is False
    with pytest.raises(ValueError, match="highest"):
        vt.set_float32_matmul_precision("lowest")


@pytest.mark.parametrize("name", ["triton", "cublaslt"])
def test_each_backend(name):
    """The Triton kernel on the GPU too (it is what runs where cuBLASLt is missing)."""
    if name == "cublaslt" and not vt.backends.cuda.cublaslt_info()["path"]:
        pytest.skip("cuBLASLt is not installed here: " + vt.backends.cuda.cublaslt_info()["error"][:200])
    gen = rng()
    with backend(name):
        assert vt.backends.cuda.matmul.backend == name
        for dtype in FLOATS:
            a, b = random_array((70, 130), dtype, gen), random_array((130, 50), dtype, gen)
            check(vt.mm(on_gpu(a, dtype, "transposed"), on_gpu(b, dtype, "sliced")), a, b, dtype)
            bias = random_array((50,), dtype, gen)
            check(vt.addmm(vt.tensor(bias).to(dtype).cuda(), on_gpu(a, dtype), on_gpu(b, dtype)), a, b, dtype,
                  bias=bias)
        with tf32(True):
            a, b = random_array((64, 256), vt.float32, gen), random_array((256, 96), vt.float32, gen)
            check(vt.mm(on_gpu(a, vt.float32), on_gpu(b, vt.float32)), a, b, vt.float32, rel=TF32_REL)
        a3, b3 = random_array((4, 33, 17), vt.float16, gen), random_array((4, 17, 20), vt.float16, gen)
        check(vt.bmm(vt.tensor(a3).to(vt.float16).cuda(), vt.tensor(b3).to(vt.float16).cuda()), a3, b3, vt.float16)


def test_matmul_autograd_matches_cpu():
    gen = rng()
    a = vt.tensor(random_array((3, 6, 8), vt.float64, gen))
    b = vt.tensor(random_array((8, 5), vt.float64, gen))
    w = vt.tensor(random_array((4, 5), vt.float64, gen))
    bias = vt.tensor(random_array((4,), vt.float64, gen))
    grads = []
    for device in ("cpu", "cuda"):
        leaves = [t.to(device).detach().requires_grad_(True) for t in (a, b, w, bias)]
        x, y, lw, lb = leaves
        out = vt.nn.functional.linear(vt.matmul(x, y), lw, lb)
        out = out + vt.matmul(x[0], y).sum() * vt.addmm(lb, x[1], y @ lw.t()).mean()
        (out * out).sum().backward()
        grads.append([t.grad.cpu().numpy() for t in leaves])
        if device == "cuda":
            assert all(t.grad.is_cuda for t in leaves)
    for g_cpu, g_gpu in zip(*grads):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10, atol=1e-10)


def test_bad_input():
    x = vt.ones(3, 4, device="cuda")
    with pytest.raises(ValueError, match="cannot be multiplied"):
        vt.mm(x, vt.ones(3, 4, device="cuda"))
    with pytest.raises(ValueError, match="same device"):
        vt.mm(x, vt.ones(4, 2))
    with pytest.raises(ValueError, match="same device"):
        vt.addmm(vt.ones(2), x, vt.ones(4, 2, device="cuda"))
    with pytest.raises(TypeError, match="not implemented for 'Long'"):
        vt.mm(vt.ones(3, 4, dtype=vt.int64, device="cuda"), vt.ones(4, 2, dtype=vt.int64, device="cuda"))
    with pytest.raises(TypeError, match="not implemented for 'Int'"):
        vt.bmm(vt.ones(1, 3, 4, dtype=vt.int32, device="cuda"), vt.ones(1, 4, 2, dtype=vt.int32, device="cuda"))
    with pytest.raises(TypeError, match="not implemented"):
        vt.dot(vt.ones(3, dtype=vt.int64, device="cuda"), vt.ones(3, dtype=vt.int64, device="cuda"))
    with pytest.raises(TypeError, match="same dtype"):
        vt.mm(x, vt.ones(4, 2, dtype=vt.float16, device="cuda"))
    with pytest.raises(ValueError, match="batch2"):
        vt.bmm(vt.ones(2, 3, 4, device="cuda"), vt.ones(3, 4, 2, device="cuda"))
    with pytest.raises(ValueError, match="inconsistent tensor size"):
        vt.dot(vt.ones(3, device="cuda"), vt.ones(4, device="cuda"))
    with pytest.raises(ValueError):
        vt.matmul(vt.ones(2, 3, 4, device="cuda"), vt.ones(3, 5, 2, device="cuda"))
    assert vt.mm(x, vt.ones(4, 2, device="cuda")).cpu().tolist() == [[4.0, 4.0]] * 3  # still usable
    assert vt.backends.cuda.matmul.backend in ("cublaslt", "triton")
