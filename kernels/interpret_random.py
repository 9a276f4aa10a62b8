"""Running the generated random-number kernels (kernels/triton/random.py) on CPU tensors with Triton's
interpreter, building keys and arguments the way csrc/cuda/random.cpp does."""
from .. import _C
from .interpret import interpreted, wrap


def _i64(v):
    """A uint64 (seed, offset, range) as the int64 bit pattern the native launcher passes."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def run_random(op, out, seed, offset, params=(), p=None, graph_slot=None):
    """Fills CPU tensor `out` (any strides) with the kernel for `op`, drawing from Philox (seed, offset in
    blocks). With graph_slot (a CPU int64 tensor [seed, base]) the graph variant runs instead: it reads seed
    and base from the slot and `offset` is the intra-graph offset. p: the probabilities of bernoulli_p,
    broadcast to out's shape. params: the op's parameters (kernels/triton/random.py PARAMS).
    Returns the number of Philox blocks the launch reserves."""
    from .cache import cache_dir
    from .triton import random as rnd
    shape = tuple(out.shape)
    n = out.numel()
    if p is not None and tuple(p.shape) != shape:
        p = p.expand(shape)
    tensors = [out] + ([p] if p is not None else [])
    dense = all(t.is_contiguous() for t in tensors)
    layout = "c" if dense else f"g{out.dim()}"
    key = "|".join(["rng", op, out.dtype.name, p.dtype.name if p is not None else "-", layout,
                    "g" if graph_slot is not None else "v"])
    fn, _, constexprs = rnd.load(key, cache_dir(), module_suffix="_interp")
    args = list(tensors) + [n]
    args += [graph_slot, _i64(offset)] if graph_slot is not None else [_i64(seed), _i64(offset)]
    for (name, kind), v in zip(rnd.PARAMS[op], params):
        args.append(float(v) if kind == "fp64" else _i64(int(v)))
    if not dense:
        args += list(reversed(shape))  # innermost first
        for t in tensors:
            args += list(reversed(t.stride()))
    if n > 0:
        grid = ((n + rnd.BLOCK - 1) // rnd.BLOCK,)
        interpreted(fn)[grid](*[wrap(a) for a in args], **constexprs)
    return rnd.reserved_blocks(op, out.dtype.name, n)


def write_state(slot, seed, offset):
    """The replay-prepare kernel: writes [seed, offset] into a graph's int64 slot (a CPU tensor here)."""
    from .cache import cache_dir
    from .triton import random as rnd
    fn, _, _ = rnd.load("rng|state|int64|-|c|v", cache_dir(), module_suffix="_interp")
    interpreted(fn)[(1,)](wrap(slot), _i64(seed), _i64(offset))
