"""Running the generated random-number kernels (kernels/triton/random.py, random_sampling.py) on CPU
tensors with Triton's interpreter, building keys and arguments the way csrc/cuda/random.cpp does, and the
launch sequences of csrc/cuda/random_sampling.cpp (with the interpreted sort and scan)."""
from .. import _C
from .interpret import interpreted, wrap
from .interpret_scan import _empty, run_scan, run_sort


def _i64(v):
    """A uint64 (seed, offset, range) as the int64 bit pattern the native launcher passes."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def run_random(op, out, seed, offset, params=(), p=None, graph_slot=None):
    """Fills CPU tensor `out` (any strides) with the kernel for `op`, drawing from Philox (seed, offset in
    blocks). With graph_slot (a CPU int64 tensor [seed, base]) the graph variant runs instead: it reads seed
    and base from the slot and `offset` is the intra-graph offset. p: the probabilities of bernoulli_p,
    broadcast to out's shape (and the elementwise input of the other ops that read one). params: the op's
    parameters (kernels/triton/random.py PARAMS; tensors for its pointers).
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
        args.append(v if kind.startswith("*") else float(v) if kind == "fp64" else _i64(int(v)))
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


def run_dropout(x, p, seed, offset):
    """native_dropout's CUDA forward: (output, bool mask) of CPU tensor x (any strides)."""
    import math
    out, mask = _empty(x.shape, x.dtype), _empty(x.shape, _C.bool)
    run_random("dropout", out, seed, offset, (mask, math.ceil((1 - p) * 2**32), 0.0 if p == 1 else 1 / (1 - p)), p=x)
    return out, mask


def run_randperm(n, seed, offset, one_block=1024):
    """randperm(n) as on CUDA: keys, their stable sort, then the shuffle of tied runs. Returns (perm, blocks
    reserved)."""
    perm_keys = _empty((n,), _C.int64)
    blocks = run_random("perm_keys", perm_keys, seed, offset)
    sorted_keys, perm = run_sort(perm_keys.reshape([1, n, 1]), False, one_block=one_block, merge_block=one_block)
    sorted_keys, perm = sorted_keys.reshape([n]), perm.reshape([n])
    run_random("perm_ties", perm, seed, offset, p=sorted_keys)
    return perm, blocks


ERROR_CODE = 11 << 32  # IndexOp::Multinomial << 32 (csrc/cuda/error_flag.h)


def run_multinomial(probs, num_samples, replacement, seed, offset, one_block=1024):
    """multinomial of a 2-D CPU tensor as on CUDA. Returns (samples [rows, num_samples], the error word
    [flag, row, what, code])."""
    rows, ncat = probs.shape
    err = _C._ops.zeros([4], dtype=_C.int64)
    out = _empty((rows, num_samples), _C.int64)
    if replacement:
        cdf = run_scan("sum", probs.reshape([rows, ncat, 1]), _C.float64, _C.float64).reshape([rows, ncat])
        low = probs.amin(1).unsqueeze(1).expand([rows, num_samples])
        run_random("mn_draw", out, seed, offset, (cdf, num_samples, ncat, ncat.bit_length(), err, ERROR_CODE), p=low)
    else:
        keys = _empty((rows, ncat), _C.float64)
        run_random("mn_race", keys, seed, offset, (probs.amax(1), ncat, err, ERROR_CODE), p=probs)
        _, idx = run_sort(keys.reshape([rows, ncat, 1]), False, k=num_samples, one_block=one_block,
                          merge_block=one_block)
        out.copy_(idx.reshape([rows, num_samples]))
    return out, err
