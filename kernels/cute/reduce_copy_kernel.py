"""The reduce-copy kernel in CuTe DSL: dst[i] = a[i] (op) b[i] for i < n, one tile per block.

Imported only to compile (it needs nvidia-cutlass-dsl); the launcher and the ABI are in reduce_copy.py.
Each block owns THREADS * UNROLL * vec consecutive elements; thread t handles the vec-wide pieces
t, t + THREADS, ... so a warp's accesses are contiguous. A full tile issues all its loads before any store
(UNROLL * 2 loads in flight per thread, for bandwidth); only the last block takes the predicated path, where
the one piece that straddles n is finished element by element.
"""
import cutlass
import cutlass.cute as cute
from cutlass import Float32, Int32

THREADS = 256
UNROLL = 4
TYPES = {"float32": cutlass.Float32, "bfloat16": cutlass.BFloat16, "float16": cutlass.Float16}


def _combine(x, y, op):
    """x (op) y in float32: one rounding to the storage type afterwards, whatever the dtype."""
    x, y = x.to(Float32), y.to(Float32)
    if op == "sum":
        return x + y
    # arith.maximumf/minimumf: NaN in either input gives NaN, as torch.maximum does.
    return cutlass.max(x, y) if op == "max" else cutlass.min(x, y)


def _piece(ptr, off, width):
    return cute.make_tensor(ptr + off, cute.make_layout(width))


@cute.kernel
def reduce_copy_kernel(dst: cute.Pointer, a: cute.Pointer, b: cute.Pointer, n: Int32,
                       op: cutlass.Constexpr, vec: cutlass.Constexpr):
    tid, _, _ = cute.arch.thread_idx()
    bid, _, _ = cute.arch.block_idx()
    per_block = THREADS * UNROLL
    # Offsets are written as (piece index) * vec so CuTe can prove them multiples of vec: with 16-byte
    # aligned pointers that is what lets it emit 128-bit accesses (it falls back to scalar ones otherwise).
    if (bid + 1) * per_block * vec <= n:
        xs, ys = [], []
        for u in cutlass.range_constexpr(UNROLL):
            off = (bid * per_block + u * THREADS + tid) * vec
            xs.append(_piece(a, off, vec).load())
            ys.append(_piece(b, off, vec).load())
        for u in cutlass.range_constexpr(UNROLL):
            off = (bid * per_block + u * THREADS + tid) * vec
            _piece(dst, off, vec).store(_combine(xs[u], ys[u], op).to(dst.dtype))
    else:  # a runtime loop: the last block's path need not be unrolled, and compiles faster that way
        for u in cutlass.range(UNROLL):
            pos = (bid * per_block + u * THREADS + tid) * vec
            if pos + vec <= n:
                _piece(dst, pos, vec).store(_combine(_piece(a, pos, vec).load(), _piece(b, pos, vec).load(),
                                                     op).to(dst.dtype))
            elif pos < n:  # the piece straddling n (only when vec > 1): its elements below n, one by one
                for k in cutlass.range_constexpr(vec):
                    if pos + k < n:
                        _piece(dst, pos + k, 1).store(_combine(_piece(a, pos + k, 1).load(),
                                                               _piece(b, pos + k, 1).load(), op).to(dst.dtype))


@cute.jit
def reduce_copy_host(dst: cute.Pointer, a: cute.Pointer, b: cute.Pointer, n: Int32,
                     op: cutlass.Constexpr, vec: cutlass.Constexpr):
    # Only the kernel's cubin is kept; this host side fixes the block size (the PTX's .reqntid) and must match
    # the native launcher's 32 * num_warps threads.
    per_block = THREADS * UNROLL * vec
    reduce_copy_kernel(dst, a, b, n, op, vec).launch(grid=((n + per_block - 1) // per_block, 1, 1),
                                                     block=(THREADS, 1, 1))


def build(dtype, op, vector, arch):
    """Compiles one specialisation for `arch` (no GPU needed); returns an aot.Compiled."""
    from cutlass.cute.runtime import make_ptr

    from .aot import compile_host

    t = TYPES[dtype]
    itemsize = t.width // 8
    vec = 16 // itemsize if vector else 1
    align = 16 if vector else itemsize  # what the launcher guarantees for each pointer of this form
    # Placeholder addresses: only their type (element, global memory, alignment) reaches the kernel.
    ptrs = [make_ptr(t, align, cute.AddressSpace.gmem, assumed_align=align) for _ in range(3)]
    return compile_host(reduce_copy_host, (*ptrs, Int32(1), op, vec), arch)
