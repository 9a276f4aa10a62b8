"""Running the generated indexing kernels (kernels/triton/index.py) on CPU tensors with Triton's interpreter.

Each runner takes the kernel's arguments in the order the native launcher (csrc/cuda/index_launch.cpp)
passes them, builds the same key, and launches over the same grid; `err` is an int64[4] CPU tensor standing
in for the device's status word.
"""
from .. import _C
from .interpret import interpreted, size_args, wrap


def _launch(key, grid, args, block):
    from .cache import cache_dir
    from .triton import index as ix
    fn, _, _ = ix.load(key, cache_dir(), module_suffix="_interp")
    interpreted(fn)[grid](*[wrap(a) for a in args], BLOCK=block)


def new_error_word():
    return _C._ops.zeros([4], dtype=_C.int64)


def run_rows(mode, dst, src, indices, bshape, other_bstrides, rshape, dst_rstrides, src_rstrides, err,
             alpha=1.0, wrap_negative=False, fast=True):
    """indices: [(index tensor, size, element stride in the indexed tensor, code, B strides of the index)].
    fast: the 32-bit coordinates (key suffix "f", the launcher's choice below 2^31 positions)."""
    from .triton import index as ix
    nb = 1
    for s in bshape:
        nb *= s
    nr = 1
    for s in rshape:
        nr *= s
    key = "|".join(["ixr", mode, src.dtype.name, dst.dtype.name, ",".join(t.dtype.name for t, *_ in indices),
                    str(len(bshape)), str(len(rshape))] + (["f"] if fast else []))
    args = [dst, src, *[t for t, *_ in indices], err, nb * nr, *size_args([nr, *bshape, *rshape], fast)]
    for t, size, stride, code, bst in indices:
        args += [size, stride, code, *bst]
    args += [*other_bstrides, *dst_rstrides, *src_rstrides, float(alpha), int(alpha), int(wrap_negative)]
    if nb * nr:
        _launch(key, ((nb * nr + ix.ROW_BLOCK - 1) // ix.ROW_BLOCK,), args, ix.ROW_BLOCK)


def run_gather(mode, self, other, idx, pshape, self_strides, idx_strides, other_strides, length, istep, ostep,
               size, step, code, err, fast=True):
    """other: a tensor, or a Python number passed by value (scatter's scalar form); fast as in run_rows."""
    from .triton import index as ix
    total = 1
    for s in pshape:
        total *= s
    if isinstance(other, _C.TensorBase):
        okind, odt = "t", other.dtype.name
    else:
        okind, odt = "v", "float64" if isinstance(other, float) else "int64"
    key = "|".join(["ixg", mode, self.dtype.name, odt, okind, str(len(pshape))] + (["f"] if fast else []))
    args = [self, other, idx, err, total, length, *size_args(pshape, fast), *self_strides, *idx_strides,
            *other_strides, istep, ostep, size, step, code]
    if total:
        _launch(key, ((total + ix.GATHER_BLOCK - 1) // ix.GATHER_BLOCK,), args, ix.GATHER_BLOCK)


def run_nonzero(x):
    """nonzero of a contiguous CPU tensor through count, scan and write kernels: the (count, ndim) result."""
    from .triton import index as ix
    n, nd = x.numel(), x.dim()
    offsets = _compact_offsets(x, n)
    total = int(offsets[offsets.numel() - 1].item())
    out = _C._ops.empty([total, nd], dtype=_C.int64)
    if n and nd:
        _launch(f"ixc|nonzero|{x.dtype.name}|{nd}", ((n + ix.COMPACT_BLOCK - 1) // ix.COMPACT_BLOCK,),
                [x, offsets, out, n, *x.shape], ix.COMPACT_BLOCK)
    return out


def run_masked_select(x, mask):
    """masked_select of two contiguous CPU tensors of one shape."""
    from .triton import index as ix
    n = x.numel()
    offsets = _compact_offsets(mask, n)
    total = int(offsets[offsets.numel() - 1].item())
    out = _C._ops.empty([total], dtype=x.dtype)
    if n:
        _launch(f"ixc|select|{x.dtype.name}", ((n + ix.COMPACT_BLOCK - 1) // ix.COMPACT_BLOCK,),
                [x, mask, offsets, out, n], ix.COMPACT_BLOCK)
    return out


def _compact_offsets(x, n):
    from .triton import index as ix
    blocks = (n + ix.COMPACT_BLOCK - 1) // ix.COMPACT_BLOCK
    counts = _C._ops.empty([blocks], dtype=_C.int64)
    offsets = _C._ops.zeros([blocks + 1], dtype=_C.int64)
    if blocks:
        _launch(f"ixc|count|{x.dtype.name}", (blocks,), [x, counts, n], ix.COMPACT_BLOCK)
        _launch("ixc|scan", (1,), [counts, offsets, blocks], ix.COMPACT_BLOCK)
    return offsets
