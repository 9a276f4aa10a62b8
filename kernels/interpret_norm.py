"""The LayerNorm / RMSNorm and cross-entropy kernels on CPU tensors through Triton's interpreter, with the
keys, arguments and grids the native launchers (csrc/cuda/norm.cpp, csrc/cuda/cross_entropy.cpp) use."""
from .. import _C
from .interpret import interpreted, pow2, wrap


def _launch(module, key, grid, args, block):
    from .cache import cache_dir
    fn, _, _ = module.load(key, cache_dir(), module_suffix="_interp")
    interpreted(fn)[grid](*[wrap(a) for a in args], BLOCK=block)


def _affine(weight, bias):
    return "-" if weight is None else ("wb" if bias is not None else "w")


def _stats(x):
    return _C.float64 if x.dtype == _C.float64 else _C.float32


def norm_forward(kind, x, weight=None, bias=None, eps=1e-5):
    """kind "ln" or "rms" over the last dim of a contiguous 2-D tensor: (y, mean or None, rstd)."""
    from .triton import norm
    rows, n = x.shape
    block = pow2(n)
    y = _C._ops.empty([rows, n], dtype=x.dtype)
    mean = _C._ops.empty([rows], dtype=_stats(x)) if kind == "ln" else None
    rstd = _C._ops.empty([rows], dtype=_stats(x))
    args = [x] + [t for t in (weight, bias) if t is not None] + [y] + ([mean] if mean is not None else []) + \
        [rstd, n, float(eps)]
    _launch(norm, f"norm|fwd|{kind}|{x.dtype.name}|{_affine(weight, bias)}|{block}", (rows,), args, block)
    return y, mean, rstd


def norm_backward(kind, dy, x, mean, rstd, weight=None, has_bias=False, programs=3):
    """(dx, per-program weight-gradient partials [programs, N] or None, bias ones or None); the native side
    folds the partials over programs."""
    from .triton import norm
    rows, n = x.shape
    block = pow2(n)
    affine = _affine(weight, True if has_bias else None)
    dx = _C._ops.empty([rows, n], dtype=x.dtype)
    dw = _C._ops.empty([programs, n], dtype=_stats(x)) if weight is not None else None
    db = _C._ops.empty([programs, n], dtype=_stats(x)) if affine == "wb" else None
    args = [dy, x] + ([weight] if weight is not None else []) + ([mean] if kind == "ln" else []) + [rstd, dx] + \
        [t for t in (dw, db) if t is not None] + [rows, n]
    _launch(norm, f"norm|bwd|{kind}|{x.dtype.name}|{affine}|{block}", (programs,), args, block)
    return dx, dw, db


def cross_entropy_forward(logits, target, ignore_index=-100, smoothing=0.0, block=None):
    """Mean cross-entropy of 2-D logits (streamed in `block`-wide chunks): (loss, lse [rows], count)."""
    from .triton import cross_entropy as ce
    rows, n = logits.shape
    block = block or min(4096, pow2(n))
    loss_rows = _C._ops.empty([rows], dtype=_C.float32)
    lse = _C._ops.empty([rows], dtype=_C.float32)
    err = _C._ops.zeros([4], dtype=_C.int64)  # the device status word's layout (csrc/cuda/error_flag.h)
    _launch(ce, f"xent|fwd|{logits.dtype.name}|{block}", (rows,),
            [logits, target, loss_rows, lse, n, ignore_index, float(smoothing), err, (10 << 32) | 1], block)
    if err[0].item():
        raise IndexError(f"index {err[1].item()} is out of bounds for dimension 1 with size {err[2].item()} "
                         "(cross_entropy)")
    loss = _C._ops.empty([], dtype=logits.dtype)
    count = _C._ops.empty([], dtype=_C.float32)
    _launch(ce, f"xent|mean|{logits.dtype.name}|{ce.MEAN_BLOCK}", (1,),
            [loss_rows, target, loss, count, rows, ignore_index], ce.MEAN_BLOCK)
    return loss, lse, count


def cross_entropy_backward(grad, logits, target, lse, count, ignore_index=-100, smoothing=0.0, block=None):
    from .triton import cross_entropy as ce
    rows, n = logits.shape
    block = block or min(4096, pow2(n))
    dx = _C._ops.empty([rows, n], dtype=logits.dtype)
    _launch(ce, f"xent|bwd|{logits.dtype.name}|{block}", (rows,),
            [logits, target, lse, grad, count, dx, n, ignore_index, float(smoothing)], block)
    return dx
