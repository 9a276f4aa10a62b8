"""Running the generated scan, sort and tril/triu Triton kernels on CPU tensors through Triton's interpreter,
with the launch sequences of the native side (csrc/cuda/scan.cpp, sort.cpp, shape.cpp), on small blocks so
that CI exercises the multi-block paths (split carries, merge passes)."""
from .. import _C
from .interpret import interpreted, pow2, wrap


def _empty(shape, dtype):
    return _C._ops.empty(list(shape), dtype=dtype)


def _launch(module, key, grid, args, **constexprs):
    from .cache import cache_dir
    fn, _, cx = module.load(key, cache_dir(), module_suffix="_interp")
    cx.update(constexprs)
    interpreted(fn)[grid](*[wrap(a) for a in args], **cx)


def run_scan(op, x3, out_dtype, acc_dtype, splits=1, block_n=None, block_i=None):
    """cumsum ("sum") / cumprod ("prod") along dim 1 of a 3-D CPU tensor [O, N, I] (any strides) into a
    contiguous [O, N, I] tensor of out_dtype. With splits > 1, runs the native side's three launches: split
    totals (the reduction kernel), their scan, and the carried scan."""
    from .interpret import run_reduction
    from .triton import scan
    o, n, i = x3.shape
    so, sn, si = x3.stride()
    bi = block_i or (1 if i == 1 else min(64, pow2(i)))
    bn = block_n or max(16, min(1024 // bi, pow2(n)))

    def launch(src, view, out, carry, nsplit):
        (vo, vn, vi), strides = view
        key = "|".join(["scan", op, src.dtype.name, out.dtype.name, acc_dtype.name, str(bn), str(bi),
                        "1" if carry is not None else "0"])
        args = [src, out] + ([carry] if carry is not None else []) + [vo, vn, vi, *strides, (vn + nsplit - 1) // nsplit]
        _launch(scan, key, (vo, (vi + bi - 1) // bi, nsplit), args)

    out = _empty((o, n, i), out_dtype)
    if splits == 1:
        launch(x3, ((o, n, i), (so, sn, si)), out, None, 1)
        return out
    totals, _ = run_reduction(op, x3, ((o, n, i), (so, sn, si)), acc_dtype, acc_dtype, splits=splits)
    carry = _empty((splits, o, i), acc_dtype)
    launch(totals, ((1, splits, o * i), (0, o * i, 1)), carry, None, 1)
    launch(x3, ((o, n, i), (so, sn, si)), out, carry, splits)
    return out


def run_sort(x3, descending, k=None, one_block=1024, merge_block=1024, tile=1024):
    """The first k (default: all) entries of every row along dim 1 of a 3-D CPU tensor [O, N, I], stably
    sorted: (values [O, k, I], int64 indices). Rows longer than one_block take the tournament path when
    2 * k <= one_block (topk), else the run + merge path."""
    from .triton import sort
    o, n, i = x3.shape
    k = n if k is None else k
    so, sn, si = x3.stride()
    r = o * i
    vals, idx = _empty((o, k, i), x3.dtype), _empty((o, k, i), _C.int64)
    outs = [k, *vals.stride()]
    dt, desc = x3.dtype.name, "1" if descending else "0"
    if n <= one_block:
        block = max(2, pow2(n))
        rows = max(1, min(tile // block, pow2(r)))
        _launch(sort, f"sort|{dt}|{desc}|{block}|{rows}|x|out", ((r + rows - 1) // rows, 1),
                [x3, vals, idx, r, i, n, so, sn, si, *outs])
        return vals, idx
    kt = _C.int64 if dt in ("float64", "int64") else _C.int32
    if 2 * k <= one_block:  # tournament: keep the first k of every block until one block is left
        m, src = n, []
        while m > one_block:
            nblk = (m + one_block - 1) // one_block
            keys, pos = _empty((r, nblk * k), kt), _empty((r, nblk * k), _C.int32)
            kind = "kp" if src else "x"
            _launch(sort, f"sort|{dt}|{desc}|{one_block}|1|{kind}|runs", (r, nblk),
                    [x3, *src, keys, pos, r, i, m, so, sn, si, k, nblk * k])
            m, src = nblk * k, [keys, pos]
        block = max(2, pow2(m))
        rows = max(1, min(tile // block, pow2(r)))
        _launch(sort, f"sort|{dt}|{desc}|{block}|{rows}|kp|out", ((r + rows - 1) // rows, 1),
                [x3, *src, vals, idx, r, i, m, so, sn, si, *outs])
        return vals, idx
    keys, pos = _empty((r, n), kt), _empty((r, n), _C.int32)
    keys2, pos2 = _empty((r, n), kt), _empty((r, n), _C.int32)
    _launch(sort, f"sort|{dt}|{desc}|{one_block}|1|x|runs", (r, (n + one_block - 1) // one_block),
            [x3, keys, pos, r, i, n, so, sn, si, one_block, n])
    nb = (n + merge_block - 1) // merge_block
    width = one_block
    while width < n:
        _launch(sort, f"smerge|{kt.name}|{merge_block}", (nb * r,),
                [keys, pos, keys2, pos2, n, nb, width, width.bit_length()])
        keys, keys2, pos, pos2 = keys2, keys, pos2, pos
        width *= 2
    nbk = (k + merge_block - 1) // merge_block
    _launch(sort, f"sgather|{dt}|{merge_block}", (nbk * r,), [x3, pos, vals, idx, i, n, k, nbk, so, sn, si, *outs[1:]])
    return vals, idx


def run_triangle(x3, lower, diagonal, out=None, block=16):
    """tril (lower) / triu of a 3-D CPU tensor [B, M, N] (any strides) into out (default: a new contiguous
    tensor; out=x3 zeroes in place)."""
    from .triton import shape
    b, m, n = x3.shape
    out = _empty((b, m, n), x3.dtype) if out is None else out
    etype = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}[x3.element_size()]
    in_place = out.data_ptr() == x3.data_ptr()
    tiles = (m * n + block - 1) // block
    # the kernel moves raw elements: reinterpret both tensors as integers of their size
    src, dst = x3.view(getattr(_C, etype)), out.view(getattr(_C, etype))
    _launch(shape, f"tri|{int(lower)}|{etype}|{int(in_place)}|{block}", (b * tiles,),
            [src, dst, m, n, tiles, *x3.stride(), *out.stride(), diagonal])
    return out
