"""The bias-activation, rotary and embedding-backward kernels on CPU tensors through Triton's interpreter,
with the keys, arguments and grids the native launchers (csrc/cuda/fused_act.cpp, csrc/cuda/rotary.cpp,
csrc/cuda/embedding_backward.cpp) use; block sizes are arguments, so tests can make them small."""
from .. import _C
from .interpret import interpreted, pow2, wrap


def _launch(module, key, grid, args, **constexprs):
    from .cache import cache_dir
    fn, _, _ = module.load(key, cache_dir(), module_suffix="_interp")
    interpreted(fn)[grid](*[wrap(a) for a in args], **constexprs)


def _acc(dtype):
    return _C.float64 if dtype == _C.float64 else _C.float32


def _cdiv(a, b):
    return (a + b - 1) // b


def bias_act_forward(act, x, b, block_m=2, block_n=16):
    """act(x + b) of a contiguous [M, N] x and [N] b."""
    from .triton import bias_act
    m, n = x.shape
    y = _C._ops.empty([m, n], dtype=x.dtype)
    _launch(bias_act, f"bact|fwd|{act}|{x.dtype.name}|{block_m}|{block_n}", (_cdiv(m, block_m), _cdiv(n, block_n)),
            [x, b, y, m, n], BLOCK_M=block_m, BLOCK_N=block_n)
    return y


def bias_act_backward(act, dy, x, b, bias_grad=True, programs=2, block_m=2, block_n=16):
    """(dx, the bias gradient's per-program partials [programs, N] or None); the native side folds them."""
    from .triton import bias_act
    m, n = x.shape
    dx = _C._ops.empty([m, n], dtype=x.dtype)
    db = _C._ops.empty([programs, n], dtype=_acc(x.dtype)) if bias_grad else None
    args = [dy, x, b, dx] + ([db] if bias_grad else []) + [m, n]
    _launch(bias_act, f"bact|bwd|{act}|{x.dtype.name}|{int(bias_grad)}|{block_m}|{block_n}",
            (programs, _cdiv(n, block_n)), args, BLOCK_M=block_m, BLOCK_N=block_n)
    return dx, db


def rotary(x, cos, sin, seq_dim=1, interleaved=False, inverse=False, rows=2):
    """x [B, T, H, D] (seq_dim 1) or [B, H, T, D] (seq_dim 2), any strides with the last dim contiguous;
    cos, sin contiguous [>= T, R / 2]. Returns a contiguous tensor shaped like x."""
    from .triton import rotary as rope
    out = _C._ops.empty(list(x.shape), dtype=x.dtype)
    order = (0, 1, 2) if seq_dim == 1 else (0, 2, 1)  # (b, t, h) dims
    bsz, t, h = (x.shape[d] for d in order)
    half = cos.shape[1]
    rest = x.shape[3] - 2 * half
    sx, so = x.stride(), out.stride()
    block_p = pow2(rest) if rest else 0
    key = (f"rope|{x.dtype.name}|{cos.dtype.name}|{int(interleaved)}|{int(inverse)}|{rows}|{pow2(h)}|{pow2(half)}|"
           f"{block_p}")
    args = [x, cos, sin, out, bsz * t, t, h, half, rest, *(sx[d] for d in order), *(so[d] for d in order),
            cos.stride()[0]]
    _launch(rope, key, (_cdiv(bsz * t, rows),), args, ROWS=rows, BLOCK_H=pow2(h), BLOCK_R=pow2(half),
            BLOCK_P=block_p)
    return out


def embedding_backward(grad, indices, num_weights, padding_idx=-1, chunk=4, block_d=8):
    """The weight gradient [num_weights, D] from grad [n, D] (contiguous) and int indices [n], sorted here
    by the core's stable sort as the native side does."""
    from .triton import embedding as emb
    n, d = grad.shape
    out = _C._ops.zeros([num_weights, d], dtype=grad.dtype)
    if n == 0:
        return out
    srt, perm = _C._ops.sort(indices, 0, False, stable=True)
    part = _C._ops.empty([_cdiv(n, chunk), 2, d], dtype=_acc(grad.dtype))
    grid = (_cdiv(n, chunk), _cdiv(d, block_d))
    tail = [n, d, num_weights, padding_idx]
    dt, it = grad.dtype.name, indices.dtype.name
    for kind, args in (("seg", [srt, perm, grad, out, part]), ("join", [srt, part, out])):
        _launch(emb, f"embbwd|{kind}|{dt}|{it}|{chunk}|{block_d}", grid, args + tail, CHUNK=chunk, BLOCK_D=block_d,
                JOIN=emb.JOIN)
    return out
