"""Random-number Triton kernels, generated from the key the native core asks for (csrc/cuda/random.cpp):

    rng|<op>|<output dtype>|<input dtype or ->|<layout>|<state>

op      uniform (rand, uniform_), normal (randn, normal_), bernoulli (a scalar p), bernoulli_p (a tensor
        of probabilities), randint, dropout (native_dropout's forward: the input is read elementwise, the
        bool mask written beside the output), the sampling ops of random_sampling.py (randperm,
        multinomial), or state (writes a CUDA graph's seed/offset slot).
layout  "c" (output and input dense; the key may end in kernels.compile.ALIGNED, see aligned_args) or "g<nd>" (sizes and element strides passed, innermost dim first:
        non-contiguous outputs of the in-place ops are written through their strides, strided inputs read
        through theirs).
state   "v": seed and base block offset passed by value; "g": a CUDA graph is being captured, so the
        kernel loads seed and base offset from a device slot [seed, offset] (int64 each) that is rewritten
        before every replay, and adds the intra-graph offset passed by value (csrc/cuda/generator.h).

The kernels follow THE STREAM of csrc/core/philox.h and the per-op formulas of csrc/cpu/random.cpp and
random_sampling.cpp: element j of a launch reads the same Philox words the CPU kernel reads, so a CUDA op
gives the CPU op's values for the same seed (bit for bit for rand/bernoulli/randint/dropout; normal up to
the ulps in which the GPU's log/sin/cos differ from libm; randperm and multinomial: random_sampling.py).
A program fills BLOCK consecutive elements from the BLOCK / E Philox blocks they read (E elements per
128-bit block), computing every block once and interleaving the E values with tl.join.
"""
import hashlib

from . import random_sampling as sampling
from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

BLOCK = 1024  # elements per program: must equal kBlock in csrc/cuda/random.cpp
NUM_WARPS = 4
OPS = ("uniform", "normal", "bernoulli", "bernoulli_p", "randint", "dropout", *sampling.OPS, "state")
FLOATS = ("float16", "bfloat16", "float32", "float64")
# The op's parameters after the generator state, with their signature types ("*in": a pointer of the
# input's dtype).
PARAMS = {"uniform": [("lo", "fp64"), ("span", "fp64"), ("top", "fp64")],
          "normal": [("mean", "fp64"), ("std", "fp64")],
          "bernoulli": [("thresh", "i64")], "bernoulli_p": [],
          "randint": [("low", "i64"), ("nrange", "i64"), ("thr", "i64")],
          "dropout": [("mask_ptr", "*i1"), ("thresh", "i64"), ("scale", "fp64")], **sampling.PARAMS}
INPUT_OPS = ("bernoulli_p", "dropout", *sampling.INPUT_OPS)  # ops reading an input elementwise (p_ptr)
# Uniform01 (csrc/cpu/random_draw.h) for one-word dtypes: (right shift, scale).
UNIFORM_BITS = {"float32": (8, "5.9604644775390625e-08"), "float16": (21, "0.00048828125"),
                "bfloat16": (24, "0.00390625")}
TWO_M32 = "2.3283064365386963e-10"  # 2^-32
TWO_M53 = "1.1102230246251565e-16"  # 2^-53


def elements_per_block(op, out):
    """E: how many consecutive elements one Philox block feeds (the CPU kernels' word layout)."""
    if op in sampling.ELEMENTS_PER_BLOCK:
        return sampling.ELEMENTS_PER_BLOCK[op]
    if op == "randint":
        return 1  # element j owns block base + j (its side streams hold its rejection retries)
    if out == "float64" and op in ("uniform", "normal"):
        return 2  # two words per uniform double; a whole block per Box-Muller pair of doubles
    return 4


def reserved_blocks(op, out, n):
    e = elements_per_block(op, out)
    return (n + e - 1) // e


def parse_key(key):
    kind, op, out, inp, layout, state = key.split("|")
    if kind != "rng":
        raise ValueError(f"not a random kernel key: {key!r}")
    if op not in OPS:
        raise KeyError(f"no random kernel for op '{op}' (key {key!r})")
    if state not in ("v", "g") or not (layout == "c" or (layout[0] == "g" and layout[1:].isdigit())):
        raise ValueError(f"bad random kernel key {key!r}")
    want = sampling.OUTPUTS.get(op)
    if want and out != want:
        raise ValueError(f"random op '{op}' writes {want}, got {out} (key {key!r})")
    if not want and op not in ("state", "randint", "bernoulli") and out not in FLOATS:
        raise ValueError(f"random op '{op}' needs a floating output, got {out} (key {key!r})")
    if (op in INPUT_OPS) != (inp != "-"):
        raise ValueError(f"random op '{op}' {'needs' if op in INPUT_OPS else 'takes no'} input (key {key!r})")
    return op, out, None if inp == "-" else inp, layout, state


_HELPERS = '''

@triton.jit
def _mul64(a, b):
    """(high, low) 64-bit halves of the 128-bit product of two uint64 tensors."""
    m = 0xFFFFFFFF
    a0 = a & m
    a1 = a >> 32
    b0 = b & m
    b1 = b >> 32
    p01 = a0 * b1
    p10 = a1 * b0
    mid = ((a0 * b0) >> 32) + (p01 & m) + (p10 & m)
    return a1 * b1 + (p01 >> 32) + (p10 >> 32) + (mid >> 32), a * b


@triton.jit
def _word64(lo, hi):
    return lo.to(tl.uint64) | (hi.to(tl.uint64) << 32)


@triton.jit
def _interleave2(a, b, N: tl.constexpr):
    return tl.reshape(tl.join(a, b), [N])


@triton.jit
def _uniform_f64(w0, w1, w2, w3, N: tl.constexpr):
    """Uniform01<double> of words (w0, w1) and (w2, w3) of each block, in element order: k * 2^-53."""
    u0 = (_word64(w0, w1) >> 11).to(tl.float64) * 1.1102230246251565e-16
    u1 = (_word64(w2, w3) >> 11).to(tl.float64) * 1.1102230246251565e-16
    return _interleave2(u0, u1, N)


@triton.jit
def _interleave4(a, b, c, d, N: tl.constexpr):
    return tl.reshape(tl.join(tl.join(a, c), tl.join(b, d)), [N])
'''


def _state_lines(state):
    if state == "v":
        return ["    seed = seed_arg.to(tl.uint64)", "    base = base_arg.to(tl.uint64)"]
    return ["    seed = tl.load(state_ptr).to(tl.uint64)",
            "    base = tl.load(state_ptr + 1).to(tl.uint64) + intra.to(tl.uint64)"]


def load_input(pointer, dtype, other):
    """BLOCK values of `dtype` at `pointer` (half types widened through float32: the interpreter garbles
    bf16 -> f64)."""
    half = dtype in ("float16", "bfloat16")
    return f"tl.load({pointer}, mask=mask, other={other})" + (".to(tl.float32)" if half else "")


def _op_lines(op, out, inp, p_off):
    """Lines computing `r`, the BLOCK output values in element order, from words w0..w3 of NB blocks."""
    ct = "tl.float64" if out == "float64" else "tl.float32"
    if op in sampling.OPS:
        return sampling.op_lines(op, inp, p_off, load_input)
    if op == "uniform":
        if out == "float64":
            return ["    u = _uniform_f64(w0, w1, w2, w3, BLOCK)",
                    "    v = u * span + lo",
                    "    r = tl.where(v > top, top, v)"]
        shift, scale = UNIFORM_BITS[out]
        return ["    w = _interleave4(w0, w1, w2, w3, BLOCK)",
                f"    u = (w >> {shift}).to(tl.float32) * {scale}",
                f"    v = (u * span.to(tl.float32) + lo.to(tl.float32)).to({TRITON_TYPES[out]}).to(tl.float32)",
                "    t = top.to(tl.float32)",
                "    r = tl.where(v > t, t, v)"]
    if op == "normal":
        if out == "float64":
            pairs = [("((_word64(w0, w1) >> 11) + 1).to(tl.float64) * " + TWO_M53,
                      "(_word64(w2, w3) >> 11).to(tl.float64) * " + TWO_M53)]
        else:
            pairs = [(f"(w0.to(tl.float32) + 1.0) * {TWO_M32}", f"w1.to(tl.float32) * {TWO_M32}"),
                     (f"(w2.to(tl.float32) + 1.0) * {TWO_M32}", f"w3.to(tl.float32) * {TWO_M32}")]
        lines = [f"    mu = mean.to({ct})", f"    sigma = std.to({ct})"]
        zs = []
        for i, (u1, u2) in enumerate(pairs):  # Box-Muller: r = sqrt(-2 ln u1), t = 2 pi u2
            lines += [f"    rr{i} = tl.sqrt(-2.0 * tl.log({u1}))", f"    t{i} = 6.283185307179586 * ({u2})",
                      f"    z{2 * i} = mu + sigma * (rr{i} * tl.cos(t{i}))",
                      f"    z{2 * i + 1} = mu + sigma * (rr{i} * tl.sin(t{i}))"]
            zs += [f"z{2 * i}", f"z{2 * i + 1}"]
        fn = "_interleave2" if len(zs) == 2 else "_interleave4"
        return lines + [f"    r = {fn}({', '.join(zs)}, BLOCK)"]
    if op == "bernoulli":  # w * 2^-32 < p  <=>  w < ceil(p * 2^32) = thresh (exact, computed on the host)
        return ["    w = _interleave4(w0, w1, w2, w3, BLOCK)",
                "    r = w.to(tl.int64) < thresh"]
    if op == "bernoulli_p":
        return ["    w = _interleave4(w0, w1, w2, w3, BLOCK)",
                f"    pv = {load_input(f'p_ptr + ({p_off})', inp, 0)}.to(tl.float64)",
                f"    r = w.to(tl.float64) * {TWO_M32} < pv"]
    if op == "dropout":  # the bernoulli_ draw of the mask; out = (x * mask) * scale, as the CPU computes it
        return ["    w = _interleave4(w0, w1, w2, w3, BLOCK)",
                "    keep = w.to(tl.int64) < thresh",
                "    tl.store(mask_ptr + offs, keep, mask=mask)",
                f"    r = {load_input(f'p_ptr + ({p_off})', inp, 0)}.to({ct}) * keep.to({ct}) * scale.to({ct})"]
    if op == "randint":  # Lemire's multiply-and-reject on 64-bit candidates (random_draw.h `below`)
        return ["    rng = nrange.to(tl.uint64)",
                "    lim = thr.to(tl.uint64)",
                "    hi0, lo0 = _mul64(_word64(w0, w1), rng)",
                "    hi1, lo1 = _mul64(_word64(w2, w3), rng)",
                "    val = tl.where(lo0 >= lim, hi0, hi1)",
                "    need = (lo0 < lim) & (lo1 < lim)",
                "    sub = tl.full([NB], 1, tl.uint32)",
                "    while tl.max(need.to(tl.int32), axis=0) > 0:  # rare: side streams 1, 2, ... of the block",
                "        x0, x1, x2, x3 = tl.philox(seed, c0, c1, sub, zero)",
                "        hi0, lo0 = _mul64(_word64(x0, x1), rng)",
                "        hi1, lo1 = _mul64(_word64(x2, x3), rng)",
                "        val = tl.where(need & (lo0 >= lim), hi0, tl.where(need & (lo1 >= lim), hi1, val))",
                "        need = need & (lo0 < lim) & (lo1 < lim)",
                "        sub = sub + 1",
                "    r = (low.to(tl.uint64) + val).to(tl.int64, bitcast=True)"]
    raise KeyError(op)


def generate(key):
    """(source code, function name, signature dict, constexpr dict) of the kernel for `key`."""
    op, out, inp, layout, state = parse_key(key)
    name = "rng_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    header = ("import triton\nimport triton.language as tl\nfrom triton.language.extra import libdevice\n"
              + _HELPERS + sampling.HELPERS + "\n\n@triton.jit\n")
    if op == "state":  # [seed, offset] into a graph's slot, ordered on the replay stream before the graph
        src = (header + f"def {name}(state_ptr, seed, offset):\n"
               "    i = tl.arange(0, 2)\n"
               "    tl.store(state_ptr + i, tl.where(i == 0, seed, offset))\n")
        return src, name, {"state_ptr": "*i64", "seed": "i64", "offset": "i64"}, {}
    e = elements_per_block(op, out)
    has_input = op in INPUT_OPS
    args = ["out_ptr"] + (["p_ptr"] if has_input else []) + ["n"]
    signature = {"out_ptr": "*" + SIGNATURE_TYPES[out]}
    if has_input:
        signature["p_ptr"] = "*" + SIGNATURE_TYPES[inp]
    signature["n"] = "i64"
    state_args = [("seed_arg", "i64"), ("base_arg", "i64")] if state == "v" else [("state_ptr", "*i64"),
                                                                                  ("intra", "i64")]
    for a, t in state_args + PARAMS[op]:
        args.append(a)
        signature[a] = "*" + SIGNATURE_TYPES[inp] if t == "*in" else t
    body = ["    pid = tl.program_id(0).to(tl.int64)"] + _state_lines(state) + [
        "    blk = base + (pid * NB + tl.arange(0, NB)).to(tl.uint64)",
        "    c0 = (blk & 0xFFFFFFFF).to(tl.uint32)",
        "    c1 = (blk >> 32).to(tl.uint32)",
        "    zero = tl.zeros([NB], dtype=tl.uint32)"]
    if op not in sampling.SIDE_STREAMS_ONLY:
        body.append("    w0, w1, w2, w3 = tl.philox(seed, c0, c1, zero, zero)")
    body += ["    offs = pid * BLOCK + tl.arange(0, BLOCK)",
             "    mask = offs < n"]
    strided = ["out"] + (["p"] if has_input else [])
    if layout == "c":
        offsets = {s: "offs" for s in strided}
    else:
        nd = int(layout[1:])
        dims = [f"d{k}" for k in range(nd)]
        strides = {s: [f"{s}_s{k}" for k in range(nd)] for s in strided}
        for v in dims + [x for s in strided for x in strides[s]]:
            args.append(v)
            signature[v] = "i64"
        body.append("    rem = offs")
        offsets = {s: "0" for s in strided}
        for k in range(nd):  # dim 0 is the innermost
            body += [f"    c{k}_ = rem % d{k}", f"    rem = rem // d{k}"]
            for s in strided:
                offsets[s] += f" + c{k}_ * {strides[s][k]}"
    body += _op_lines(op, out, inp, offsets.get("p"))
    if op.startswith("bernoulli") and out in FLOATS:  # bool -> float32 -> out (the interpreter garbles bool -> bf16)
        body.append("    r = r.to(tl.float32)")
    if op not in sampling.SIDE_STREAMS_ONLY:  # perm_ties swaps entries of its output itself
        body.append(f"    tl.store(out_ptr + ({offsets['out']}), r.to({TRITON_TYPES[out]}), mask=mask)")
    src = header + f"def {name}({', '.join(args)}, BLOCK: tl.constexpr, NB: tl.constexpr):\n" + "\n".join(body) + "\n"
    signature["BLOCK"] = "constexpr"
    signature["NB"] = "constexpr"
    return src, name, signature, {"BLOCK": BLOCK, "NB": BLOCK // e}


def aligned_args(key):
    """What the native launcher checks before it asks for `key` + kernels.compile.ALIGNED (dense layout): the
    output, the input and every pointer parameter 16-byte aligned, the element count a multiple of 16."""
    op, _, _, layout, _ = parse_key(key)
    if layout != "c" or op == "state":
        raise KeyError(f"random key {key!r}: only the dense layout has an aligned form")
    return ["out_ptr"] + (["p_ptr"] if op in INPUT_OPS else []) + ["n"] + \
        [a for a, t in PARAMS[op] if t.startswith("*")]


def load(key, cache_dir, module_suffix=""):
    """The @triton.jit function for `key` (see elementwise.load)."""
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
