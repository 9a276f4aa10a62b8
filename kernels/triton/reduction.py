"""Reduction Triton kernels, generated from the key the native core asks for (csrc/cuda/reduce.cpp):

    red|<op>|<input dtype>|<output dtype>|<accumulator dtype>|<BLOCK_O>|<BLOCK_R>|<BLOCK_I>|<layout>

The input is viewed as [O, R, I] with element strides (so reducing leading, trailing or a middle block of
dims needs no copy); program (o-tile, i-tile, split) folds its share of R into BLOCK_O x BLOCK_R x BLOCK_I
accumulators and collapses them over R at the end. The layout (LAYOUTS) says what the native side checked
about the view: in "r" (row reductions) and "i" (column reductions) the contiguous dim's stride is the
constant 1 and every access is 16-byte aligned, which the kernel states to Triton so that it reads 16 bytes
per load with addresses fixed at compile time; "g" reads strides at run time, one element per load. With
several splits the output is [splits, O, I] partial results, which a second launch of the same kind of
kernel folds (the native side does that). Index reductions (argmax) write values and indices. Ops in
AUX_OPS read one more operand, a per-output value `a` laid out like the output ([O, I] contiguous: var's
mean, logsumexp's max), and ops in POST transform the folded result before it is stored (var's division
by N - correction): with splits, the native side runs the op's partial form first ("var" -> "sqdev") and
its fold form second ("sumdiv"; partial_op / fold_op in csrc/cuda/reduce.cpp).

    soft|<op>|<input dtype>|<output dtype>|<BLOCK>

is a row-wise softmax / log_softmax over contiguous rows of length N: max and sum in one online pass
(rescaled running sum), then one pass writing the result. It may end in kernels.compile.ALIGNED
(aligned_args).
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 4

# op -> (identity, combine(acc, x), finish(result over axis 1, R, of the tile), pre(x) per element)
REDUCTIONS = {
    "sum": ("0", "acc + x", "tl.sum(acc, axis=1)", "x"),
    "sumsq": ("0", "acc + x", "tl.sum(acc, axis=1)", "x * x"),
    "sumabs": ("0", "acc + x", "tl.sum(acc, axis=1)", "tl.abs(x)"),
    "sumpow": ("0", "acc + x", "tl.sum(acc, axis=1)", "tl.exp2(p0 * tl.log2(tl.abs(x)))"),
    "nonzero": ("0", "acc + x", "tl.sum(acc, axis=1)", "(x != 0).to(ACC)"),
    "prod": ("1", "acc * x", "tl.reduce(acc, 1, _mul)", "x"),
    "amax": ("-float('inf')", "_nanmax(acc, x)", "tl.reduce(acc, 1, _nanmax)", "x"),
    "amin": ("float('inf')", "_nanmin(acc, x)", "tl.reduce(acc, 1, _nanmin)", "x"),
    "absmax": ("0", "_nanmax(acc, x)", "tl.reduce(acc, 1, _nanmax)", "tl.abs(x)"),
    "absmin": ("float('inf')", "_nanmin(acc, x)", "tl.reduce(acc, 1, _nanmin)", "tl.abs(x)"),
    "any": ("0", "tl.maximum(acc, x)", "tl.max(acc, axis=1)", "(x != 0).to(ACC)"),
    "all": ("1", "tl.minimum(acc, x)", "tl.min(acc, axis=1)", "(x != 0).to(ACC)"),
    # two-pass var/std (`a`: the exact mean) and max-shifted logsumexp (`a`: the max; an infinite max
    # shifts by 0 so all -inf rows give -inf and +inf rows give inf, as in PyTorch)
    "sqdev": ("0", "acc + x", "tl.sum(acc, axis=1)", "(x - a) * (x - a)"),
    "expdev": ("0", "acc + x", "tl.sum(acc, axis=1)", "tl.exp(x - _finite_or_zero(a))"),
}
for _op, _src in {"sumdiv": "sum", "sumdiv_sqrt": "sum", "var": "sqdev", "std": "sqdev", "lse": "expdev",
                  "logsum_shift": "sum"}.items():
    REDUCTIONS[_op] = REDUCTIONS[_src]
# op -> expression of the folded result r (and p0, a) that is stored
POST = {"sumdiv": "r / p0", "sumdiv_sqrt": "tl.sqrt(r / p0)", "var": "r / p0", "std": "tl.sqrt(r / p0)",
        "lse": "tl.log(r) + _finite_or_zero(a)", "logsum_shift": "tl.log(r) + _finite_or_zero(a)"}
AUX_OPS = {"sqdev", "expdev", "var", "std", "lse", "logsum_shift"}
INDEXED = {"argmax": "max", "argmin": "min"}
# layout -> what the native side guarantees about the [O, R, I] view (csrc/cuda/reduce.cpp, reduce_layout)
LAYOUTS = {
    "g": "any element strides, read at run time",
    "r": "R contiguous (sr = 1, I = 1); every row and split starts, and R ends, on a 16-byte boundary",
    "i": "I contiguous (si = 1); I a whole number of 16-byte vectors, every (o, r) row 16-byte aligned",
}
ITEMSIZE = {"float64": 8, "int64": 8, "float32": 4, "int32": 4, "float16": 2, "bfloat16": 2, "int16": 2,
            "int8": 1, "uint8": 1, "bool": 1}

HELPERS = '''

@triton.jit
def _mul(a, b):
    return a * b


# NaN-propagating max / min: one max.NaN / min.NaN instruction each (the compare-and-select form they replace
# cost bf16 amax over 4096x4096 rows 16 us against 9 on an H200; torch 12.6)
@triton.jit
def _nanmax(a, b):
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _nanmin(a, b):
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _finite_or_zero(a):
    return tl.where(tl.abs(a) == float('inf'), 0.0, a)


@triton.jit
def _argpick(va, ia, vb, ib, IS_MAX: tl.constexpr):
    # A NaN wins (as in PyTorch); then the better value; ties (and NaN against NaN) go to the smaller index.
    a_nan = va != va
    b_nan = vb != vb
    if IS_MAX:
        better = vb > va
    else:
        better = vb < va
    earlier = ib < ia
    take_b = (b_nan & ~a_nan) | (b_nan & a_nan & earlier) | (~a_nan & ~b_nan & (better | ((vb == va) & earlier)))
    return tl.where(take_b, vb, va), tl.where(take_b, ib, ia)


@triton.jit
def _argmax_combine(va, ia, vb, ib):
    return _argpick(va, ia, vb, ib, True)


@triton.jit
def _argmin_combine(va, ia, vb, ib):
    return _argpick(va, ia, vb, ib, False)
'''


def parse_key(key):
    parts = key.split("|")
    if parts[0] == "red" and len(parts) == 9:
        _, op, ins, out, acc, bo, br, bi, layout = parts
        if op not in REDUCTIONS and op not in INDEXED:
            raise KeyError(f"no reduction '{op}' (key {key!r})")
        if layout not in LAYOUTS:
            raise KeyError(f"no reduction layout '{layout}' (key {key!r})")
        return op, ins, out, acc, int(bo), int(br), int(bi), layout
    raise ValueError(f"not a reduction kernel key: {key!r}")


def _tile_loop(layout, vec, load):
    """The loop over this program's share of R, one [BLOCK_O, BLOCK_R, BLOCK_I] tile per step, ending with
    `load` (the statement that reads tile x under mask m). The aligned layouts state the alignment the
    native side checked (csrc/cuda/reduce.cpp, reduce_layout) so that Triton emits 16-byte loads: without
    these hints it cannot prove them and reads element by element."""
    sr, si = ("1", "si") if layout == "r" else ("sr", "1") if layout == "i" else ("sr", "si")
    lines = [
        "    base = in_ptr + (o * so)[:, None, None] + (i * " + si + ")[None, None, :]",
        "    for r0 in range(r_begin, r_end, BLOCK_R):",
        "        r = r0 + tl.arange(0, BLOCK_R)",
    ]
    if layout == "r":  # splits start, and R ends, on a whole vector: the mask is constant along each one
        lines.append(f"        r = tl.multiple_of(r, [{vec}])")
    lines += [
        "        m = keep[:, None, :] & (r < r_end)[None, :, None]",
        "        ptrs = base + (r * " + sr + ")[None, :, None]",
    ]
    if layout == "r":
        lines.append("        ptrs = tl.multiple_of(ptrs, [1, 16, 1])")
    elif layout == "i":  # I is a whole number of vectors
        lines += ["        ptrs = tl.multiple_of(ptrs, [1, 1, 16])",
                  f"        m = tl.max_constancy(m, [1, 1, {vec}])"]
    return lines + ["        " + load]


def generate(key):
    if key.startswith("soft|"):
        return _generate_softmax(key)
    op, ins, out, acc, block_o, block_r, block_i, layout = parse_key(key)
    name = "red_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    indexed = op in INDEXED
    aux = op in AUX_OPS
    args = ["in_ptr", "out_ptr"] + (["idx_ptr"] if indexed else []) + (["aux_ptr"] if aux else []) + \
        ["O", "R", "I", "so", "sr", "si", "r_per_split", "p0"]
    signature = {"in_ptr": "*" + SIGNATURE_TYPES[ins], "out_ptr": "*" + SIGNATURE_TYPES[out]}
    if indexed:
        signature["idx_ptr"] = "*i64"
    if aux:  # the per-output operand is in the accumulator type
        signature["aux_ptr"] = "*" + SIGNATURE_TYPES[acc]
    signature.update({a: "i64" for a in ("O", "R", "I", "so", "sr", "si", "r_per_split")})
    signature["p0"] = "fp64"
    signature["BLOCK_O"] = signature["BLOCK_R"] = signature["BLOCK_I"] = "constexpr"
    tacc = TRITON_TYPES[acc]
    if acc not in ("float16", "bfloat16", "float32", "float64"):  # integer accumulators: finite identities
        lo, hi = {"int64": (-2**63, 2**63 - 1), "int32": (-2**31, 2**31 - 1)}.get(acc, (-128, 127))
        infs = {"-float('inf')": str(lo), "float('inf')": str(hi)}
    else:
        infs = {}
    vec = 16 // ITEMSIZE[ins]  # elements in one 16-byte access, the aligned layouts' load width
    # one grid axis for (O block, I block): axis 1 would cap the I blocks at 65535 (a sum over dim 0 of a
    # 4 x 8M tensor needs 131072). The split of the tile index runs in int32 (the native side keeps tiles
    # below 2^31): a 64-bit division is a long emulated sequence every thread runs, and 'r' (I = 1) needs none.
    if layout == "r":
        tiles = ["    o = tl.program_id(0).to(tl.int64) * BLOCK_O + tl.arange(0, BLOCK_O)",
                 "    i = tl.arange(0, BLOCK_I)"]
    else:
        tiles = ["    tile = tl.program_id(0)",
                 "    blocks_i = tl.cast(tl.cdiv(I, BLOCK_I), tl.int32)",
                 "    o = (tile // blocks_i).to(tl.int64) * BLOCK_O + tl.arange(0, BLOCK_O)",
                 "    i = (tile % blocks_i).to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)"]
    body = tiles + [
        "    split = tl.program_id(2).to(tl.int64)",
        "    keep = (o < O)[:, None] & (i < I)[None, :]",
        "    r_begin = split * r_per_split",
        "    r_end = tl.minimum(r_begin + r_per_split, R)",
    ]
    if layout == "r":
        body.append(f"    r_end = tl.multiple_of(r_end, {vec})")
    body += [
        "    dst = split * O * I + o[:, None] * I + i[None, :]",
        f"    p0 = p0.to({tacc})",
    ]
    if aux:  # seen by the per-element expressions as [BLOCK_O, 1, BLOCK_I], by the post one as the output
        body.append(f"    a_out = tl.load(aux_ptr + o[:, None] * I + i[None, :], mask=keep, other=0).to({tacc})")
        body.append("    a = a_out[:, None, :]")
    shape = "[BLOCK_O, BLOCK_R, BLOCK_I]"
    if indexed:
        better = INDEXED[op]
        ident = infs.get("-float('inf')" if better == "max" else "float('inf')",
                         "-float('inf')" if better == "max" else "float('inf')")
        body += [f"    best = tl.full({shape}, {ident}, {tacc})", f"    best_i = tl.full({shape}, 0, tl.int64)"]
        body += _tile_loop(layout, vec, f"x = tl.load(ptrs, mask=m, other={ident}).to({tacc})")
        body += [
            f"        ri = tl.broadcast_to(r[None, :, None], {shape})",
            f"        best, best_i = _arg{better}_combine(best, best_i, x, tl.where(m, ri, R))",
            f"    v, vi = tl.reduce((best, best_i), 1, _arg{better}_combine)",
            "    tl.store(idx_ptr + dst, vi, mask=keep)",
            f"    tl.store(out_ptr + dst, v.to({TRITON_TYPES[out]}), mask=keep)",
        ]
    else:
        ident, combine, finish, pre = REDUCTIONS[op]
        ident = infs.get(ident, ident)
        body.append(f"    acc = tl.full({shape}, {ident}, {tacc})")
        body += _tile_loop(layout, vec, f"x = tl.load(ptrs, mask=m).to({tacc})")
        body += [
            f"        x = tl.where(m, {pre.replace('ACC', tacc)}, {ident})",
            f"        acc = {combine}",
            f"    r = {finish}",
        ]
        if aux:
            body.append("    a = a_out")
        if op in POST:
            body.append(f"    r = {POST[op]}")
        body.append(f"    tl.store(out_ptr + dst, r.to({TRITON_TYPES[out]}), mask=keep)")
    consts = ", ".join(f"{c}: tl.constexpr" for c in ("BLOCK_O", "BLOCK_R", "BLOCK_I"))
    src = _header() + HELPERS + "\n\n@triton.jit\n" + \
        f"def {name}({', '.join(args)}, {consts}):\n" + "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK_O": block_o, "BLOCK_R": block_r, "BLOCK_I": block_i}


def _generate_softmax(key):
    _, op, ins, out, block, mode = key.split("|")  # mode: w (the whole row in one block) or s (streamed)
    if op not in ("softmax", "log_softmax") or mode not in ("w", "s"):
        raise KeyError(f"no row kernel '{op}' (key {key!r})")
    block = int(block)
    name = "soft_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    signature = {"in_ptr": "*" + SIGNATURE_TYPES[ins], "out_ptr": "*" + SIGNATURE_TYPES[out], "N": "i64",
                 "BLOCK": "constexpr"}
    ct = "tl.float64" if ins == "float64" else "tl.float32"  # float64 rows must not round through float32
    write = "x - m - tl.log(s)" if op == "log_softmax" else "tl.exp(x - m) / s"
    head = [
        "    row = tl.program_id(0).to(tl.int64)",
        "    src = in_ptr + row * N",
        "    dst = out_ptr + row * N",
    ]
    whole = [  # one read: the row stays in registers
        "    offs = tl.arange(0, BLOCK)",
        f"    x = tl.load(src + offs, mask=offs < N, other=-float('inf')).to({ct})",
        "    m = tl.max(x, axis=0)",
        "    e = tl.exp(x - m)",
        "    s = tl.sum(e, axis=0)",
        f"    tl.store(dst + offs, ({'x - m - tl.log(s)' if op == 'log_softmax' else 'e / s'}).to({TRITON_TYPES[out]}), "
        "mask=offs < N)",
    ]
    streamed = [
        f"    m = tl.full([BLOCK], -float('inf'), {ct})",
        f"    s = tl.full([BLOCK], 0.0, {ct})",
        "    for c in range(0, N, BLOCK):",  # online max and rescaled sum, lane by lane
        "        offs = c + tl.arange(0, BLOCK)",
        f"        x = tl.load(src + offs, mask=offs < N, other=-float('inf')).to({ct})",
        "        m_new = tl.maximum(m, x)",
        "        s = s * tl.exp(tl.where(m_new == m, 0.0, m - m_new)) + tl.where(x == -float('inf'), 0.0, tl.exp(x - m_new))",
        "        m = m_new",
        "    m_row = tl.max(m, axis=0)",
        "    s = tl.sum(tl.where(m == -float('inf'), 0.0, s * tl.exp(m - m_row)), axis=0)",
        "    m = m_row",
        "    for c in range(0, N, BLOCK):",
        "        offs = c + tl.arange(0, BLOCK)",
        f"        x = tl.load(src + offs, mask=offs < N).to({ct})",
        f"        tl.store(dst + offs, ({write}).to({TRITON_TYPES[out]}), mask=offs < N)",
    ]
    body = head + (whole if mode == "w" else streamed)
    src = _header() + "\n\n@triton.jit\n" + f"def {name}(in_ptr, out_ptr, N, BLOCK: tl.constexpr):\n" + \
        "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK": block}


def _header():
    return "import triton\nimport triton.language as tl\n"


def aligned_args(key):
    """What the native launcher checks before it asks for a soft| key + kernels.compile.ALIGNED: both row
    pointers 16-byte aligned and N a multiple of 16 (red| keys state their alignment in their layout)."""
    if not key.startswith("soft|"):
        raise KeyError(f"reduction key {key!r}: only soft| keys have an aligned form")
    return ["in_ptr", "out_ptr", "N"]


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    fn = _write_and_import(src, name, cache_dir, module_suffix)
    return fn, signature, constexprs
