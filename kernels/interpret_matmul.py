"""Running the generated matmul Triton kernel (kernels/triton/matmul.py) on CPU tensors with Triton's
interpreter, building the key and arguments the way csrc/cuda/blas_triton.cpp does."""
from .. import _C
from .interpret import bfloat16_dot, interpreted, pow2, wrap


def _layout(t):
    """'r' when the column stride is 1, 'c' when the row stride is 1 (as the native side picks them)."""
    rs, cs = t.stride()[-2:]
    rows, cols = t.shape[-2:]
    if cs == 1 or cols == 1:
        return "r", rs
    if rs == 1 or rows == 1:
        return "c", cs
    raise ValueError("matmul operands need a unit stride in one of their last two dims (make them contiguous)")


def _tile(n, cap):
    return max(16, min(cap, pow2(n)))


def run_matmul(a, b, c=None, alpha=1.0, beta=0.0, tf32=False, out_dtype=None, blocks=None):
    """out[batch] = alpha * a[batch] @ b[batch] (+ beta * c[batch]) for 3-D CPU tensors a (B, M, K), b (B, K, N)
    and c broadcastable to (B, M, N) at any strides; returns the contiguous (B, M, N) result."""
    from .cache import cache_dir
    from .triton import matmul as mm
    batch, m, k = a.shape
    n = b.shape[2]
    out = _C._ops.empty([batch, m, n], dtype=out_dtype or a.dtype)
    la, _ = _layout(a)
    lb, _ = _layout(b)
    bm, bn, bk = blocks or (_tile(m, 64), _tile(n, 64), _tile(k, 32))
    key = "|".join(["mm", a.dtype.name, out.dtype.name, "1" if tf32 else "0", la + lb + ("g" if c is not None else "n"),
                    str(bm), str(bn), str(bk)])
    fn, _, _ = mm.load(key, cache_dir(), module_suffix="_interp")
    if c is not None:
        c = c.expand(batch, m, n)
    strides = [*a.stride(), *b.stride(), *(c.stride() if c is not None else (0, 0, 0))]
    args = [a, b, c if c is not None else out, out, m, n, k, *strides, float(alpha), float(beta)]
    grid = (((m + bm - 1) // bm) * ((n + bn - 1) // bn), batch)
    with bfloat16_dot():
        interpreted(fn)[grid](*[wrap(x) for x in args], BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=mm.GROUP_M)
    return out
