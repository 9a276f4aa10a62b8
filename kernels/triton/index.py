"""Indexing Triton kernels, generated from the keys the native core asks for (csrc/cuda/index_launch.cpp).

Rows (index, index_put(_), index_select, index_add(_), embedding): PyTorch's advanced-index model, where
`dst` and `src` are two views with the same non-indexed dims R, moved once per position b of the index
shape B (see csrc/cpu/index_utils.h):

    ixr|<mode>|<src dtype>|<dst dtype>|<index dtypes,>|<dims of B>|<dims of R>[|f]

mode "get": dst[b, r] = src[r + Σ_j idx_j[b] * stride_j] (the indexed side is src); "put": the indexed side
is dst, stored; "add": the indexed side is dst, atomically added (dst may be a wider accumulator than src:
float32 for half types, int32 for small ints and bool). Arguments: dst, src, idx_0.., err, total, NR,
B sizes, R sizes, then per index j: size_j, stride_j, code_j, its B strides; the other side's B strides,
dst's and src's R strides, alpha (f64), alpha (i64), wrap (1: negative indices count from the end).

Gather / scatter (gather, scatter(_), scatter_add(_), one_hot) walk positions of a shape P (nd dims) and,
at each, `len` entries along `dim` (len = 1 for gather and atomic scatter_add; scatter walks the index with
`dim` squashed so that each position owns one line of self, and applies the line's entries in order —
no atomics, and the last duplicate wins, as on CPU):

    ixg|<mode>|<self dtype>|<other dtype>|<other kind>|<nd>[|f]

mode: gather (other = the output), set / add / mul (line by line), atomic (scatter_add by atomics on self,
or on a wider accumulator as above). other kind "t": a tensor with strides; "v": a value (f64 for floats,
else i64). Arguments: self, other, idx, err, total, len, P sizes, self strides (0 along dim), idx strides,
other strides, idx step and other step along dim, size of dim, self's stride along dim, code.

A trailing "f" (the launcher's choice while every position of the launch is below 2^31): the kernel splits
positions into coordinates in 32 bits, each size it divides by (NR and the B and R sizes; P's sizes) passed
as int_divider's (size, magic, shift), uint32 (csrc/core/int_divider.h); without it, 64-bit division, which
the GPU emulates in dozens of instructions per element.

Ordered compaction (nonzero, masked_select): per-block counts, one exclusive scan, then the writes:

    ixc|count|<dtype>    ixc|scan    ixc|nonzero|<dtype>|<nd>    ixc|select|<dtype>

Bad indices: every kernel checks each index against its range, skips the element, and records the first
bad value in the device's status word (err: int64[4] = flag, value, size, op << 32 | dim; see
csrc/cuda/error_flag.h) — never an out-of-bounds access.
"""
import hashlib

from .elementwise import FLOATS, SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 4
ROW_BLOCK = 1024      # ixr elements per program: kRowBlock in csrc/cuda/index_launch.cpp
GATHER_BLOCK = 512    # ixg positions per program: kGatherBlock
COMPACT_BLOCK = 1024  # ixc elements per program: kCompactBlock

HEADER = '''import triton
import triton.language as tl


@triton.jit
def _record_bad(err_ptr, bad, value, size, code, BLOCK: tl.constexpr):
    # The first bad lane of this block, reported once per device word (the first claimant wins).
    lanes = tl.arange(0, BLOCK)
    first = tl.min(tl.where(bad, lanes, BLOCK), axis=0)
    if first < BLOCK:
        v = tl.sum(tl.where(lanes == first, value, 0), axis=0)
        if tl.atomic_cas(err_ptr, tl.full([], 0, tl.int64), tl.full([], 1, tl.int64)) == 0:
            tl.store(err_ptr + 1, v)
            tl.store(err_ptr + 2, size)
            tl.store(err_ptr + 3, code)

'''


def compute_type(dtype):
    """The type arithmetic happens in (PyTorch's opmath): float32 for half types, int32 for bool."""
    if dtype in ("float16", "bfloat16"):
        return "float32"
    if dtype == "bool":
        return "int32"
    if dtype in FLOATS:
        return dtype
    return "int64"


def _name(prefix, key):
    return prefix + "_" + hashlib.sha1(key.encode()).hexdigest()[:12]


def _divmod(q, r, n, d, fast):
    """Lines computing q = n // d and r = n % d: in 32 bits by int_divider's (d, d_m, d_s) when fast (n and
    d below 2^31, uint32), else by 64-bit division."""
    if fast:
        return [f"    {q} = (tl.umulhi({n}, {d}_m) + {n}) >> {d}_s", f"    {r} = {n} - {q} * {d}"]
    return [f"    {q} = {n} // {d}", f"    {r} = {n} % {d}"]


def _coords(var, dims, sizes, body, fast):
    """Row-major coordinates of `var` over `sizes` (last innermost), int64: appends code, returns their names."""
    names = [f"{var}c{d}" for d in range(dims)]
    if dims:
        body.append(f"    rem_{var} = {var}")
    for d in reversed(range(dims)):
        # the outermost too: masked lanes past the end keep every coordinate in range (the interpreter reads them)
        body += _divmod(f"q{d}_{var}", names[d], f"rem_{var}", sizes[d], fast)
        body.append(f"    {names[d]} = {names[d]}.to(tl.int64)")
        if d:
            body.append(f"    rem_{var} = q{d}_{var}")
    return names


def _divisors(names, fast):
    """Signature entries of the sizes the kernel divides by: (size, magic, shift) as uint32 when fast."""
    if not fast:
        return {v: "i64" for v in names}
    return {f"{v}{part}": "u32" for v in names for part in ("", "_m", "_s")}


def _fast(rest, key):
    """Whether a key's optional last field asks for 32-bit coordinates ("f")."""
    if rest not in ([], ["f"]):
        raise KeyError(f"unknown indexing kernel key {key!r}")
    return rest == ["f"]


def _dot(coords, strides):
    return " + ".join([f"{c} * {s}" for c, s in zip(coords, strides)]) or "zero"  # always a block


def generate_rows(key):
    kind, mode, src_dt, dst_dt, idx_dts, nbd, nrd, *rest = key.split("|")
    assert kind == "ixr" and mode in ("get", "put", "add"), key
    fast = _fast(rest, key)
    idx_dts = idx_dts.split(",")
    nbd, nrd, k = int(nbd), int(nrd), len(idx_dts)
    name = _name("ixr", key)
    sig = {"dst": "*" + SIGNATURE_TYPES[dst_dt], "src": "*" + SIGNATURE_TYPES[src_dt]}
    sig.update({f"idx{j}": "*" + SIGNATURE_TYPES[d] for j, d in enumerate(idx_dts)})
    sig["err"] = "*i64"
    sig["total"] = "i64"
    sig.update(_divisors(["nr"] + [f"bs{d}" for d in range(nbd)] + [f"rs{d}" for d in range(nrd)], fast))
    ints = []
    for j in range(k):
        ints += [f"size{j}", f"stride{j}", f"code{j}"] + [f"bst{j}_{d}" for d in range(nbd)]
    ints += [f"ost{d}" for d in range(nbd)] + [f"dr{d}" for d in range(nrd)] + [f"sr{d}" for d in range(nrd)]
    sig.update({v: "i64" for v in ints})
    sig.update({"alpha_f": "fp64", "alpha_i": "i64", "wrap": "i64"})
    body = ["    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
            "    zero = tl.zeros([BLOCK], tl.int64)",
            "    mask = lin < total",
            "    lin_d = lin.to(tl.uint32)" if fast else "    lin_d = lin"]
    body += _divmod("b", "r", "lin_d", "nr", fast)
    bc = _coords("b", nbd, [f"bs{d}" for d in range(nbd)], body, fast)
    rc = _coords("r", nrd, [f"rs{d}" for d in range(nrd)], body, fast)
    body.append("    ok = mask")
    body.append("    ioff = zero")
    for j in range(k):
        body += [f"    v{j} = tl.load(idx{j} + ({_dot(bc, [f'bst{j}_{d}' for d in range(nbd)])}), mask=mask, other=0)"
                 ".to(tl.int64)",
                 f"    w{j} = tl.where((v{j} < 0) & (wrap != 0), v{j} + size{j}, v{j})",
                 f"    bad{j} = mask & ((w{j} < 0) | (w{j} >= size{j}))",
                 f"    _record_bad(err, bad{j}, v{j}, size{j}, code{j}, BLOCK)",
                 f"    ok = ok & ~bad{j}",
                 f"    ioff += tl.where(bad{j}, 0, w{j}) * stride{j}"]
    body.append(f"    ooff = {_dot(bc, [f'ost{d}' for d in range(nbd)])}")
    body.append(f"    droff = {_dot(rc, [f'dr{d}' for d in range(nrd)])}")
    body.append(f"    sroff = {_dot(rc, [f'sr{d}' for d in range(nrd)])}")
    if mode == "get":
        body += ["    x = tl.load(src + (ioff + sroff), mask=ok, other=0)",
                 "    tl.store(dst + (ooff + droff), x, mask=mask)"]  # bad rows read as 0: never garbage
    elif mode == "put":
        body += ["    x = tl.load(src + (ooff + sroff), mask=ok, other=0)",
                 f"    tl.store(dst + (ioff + droff), x.to({TRITON_TYPES[dst_dt]}), mask=ok)"]
    else:
        acc = TRITON_TYPES[dst_dt]
        alpha = f"alpha_f.to({acc})" if dst_dt in FLOATS else f"alpha_i.to({acc})"
        body += ["    x = tl.load(src + (ooff + sroff), mask=ok, other=0)",
                 f"    tl.atomic_add(dst + (ioff + droff), x.to({acc}) * {alpha}, mask=ok)"]
    args = list(sig)
    src = HEADER + f"\n@triton.jit\ndef {name}({', '.join(args)}, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n"
    sig["BLOCK"] = "constexpr"
    return src, name, sig, {"BLOCK": ROW_BLOCK}


def generate_gather(key):
    kind, mode, self_dt, other_dt, other_kind, nd, *rest = key.split("|")
    assert kind == "ixg" and mode in ("gather", "set", "add", "mul", "atomic") and other_kind in "tv", key
    fast = _fast(rest, key)
    nd = int(nd)
    name = _name("ixg", key)
    by_value = other_kind == "v"
    sig = {"sp": "*" + SIGNATURE_TYPES[self_dt],
           "oth": ("fp64" if other_dt in FLOATS else "i64") if by_value else "*" + SIGNATURE_TYPES[other_dt],
           "idx": "*i64", "err": "*i64", "total": "i64", "nlen": "i64"}
    sig.update(_divisors([f"ps{d}" for d in range(nd)], fast))
    ints = [f"sst{d}" for d in range(nd)]
    ints += [f"ist{d}" for d in range(nd)] + [f"ost{d}" for d in range(nd)]
    ints += ["istep", "ostep", "size", "step", "code"]
    sig.update({v: "i64" for v in ints})
    st = TRITON_TYPES[self_dt]
    ct = TRITON_TYPES[compute_type(self_dt)]
    body = ["    pos = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
            "    zero = tl.zeros([BLOCK], tl.int64)",
            "    mask = pos < total",
            "    pos_d = pos.to(tl.uint32)" if fast else "    pos_d = pos"]
    pc = _coords("pos_d", nd, [f"ps{d}" for d in range(nd)], body, fast)
    body.append(f"    soff = {_dot(pc, [f'sst{d}' for d in range(nd)])}")
    body.append(f"    ioff = {_dot(pc, [f'ist{d}' for d in range(nd)])}")
    body.append(f"    ooff = {_dot(pc, [f'ost{d}' for d in range(nd)])}")
    body += ["    for k in range(0, nlen):",
             "        v = tl.load(idx + (ioff + k * istep), mask=mask, other=0)",
             "        bad = mask & ((v < 0) | (v >= size))",
             "        _record_bad(err, bad, v, size, code, BLOCK)",
             "        ok = mask & ~bad",
             "        at = sp + (soff + tl.where(ok, v, 0) * step)"]
    if mode == "gather":
        body += ["        x = tl.load(at, mask=ok, other=0)",
                 "        tl.store(oth + (ooff + k * ostep), x, mask=mask)"]  # bad entries read as 0
    else:
        if by_value:
            body.append(f"        y = oth.to({st})")
        else:
            body.append(f"        y = tl.load(oth + (ooff + k * ostep), mask=ok, other=0).to({st})")
        if mode == "set":
            body.append("        tl.store(at, y, mask=ok)")
        elif mode == "atomic":
            body.append("        tl.atomic_add(at, y, mask=ok)")
        else:
            op = "+" if mode == "add" else "*"
            body += ["        x = tl.load(at, mask=ok, other=0)",
                     f"        tl.store(at, (x.to({ct}) {op} y.to({ct})).to({st}), mask=ok)"]
    args = list(sig)
    src = HEADER + f"\n@triton.jit\ndef {name}({', '.join(args)}, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n"
    sig["BLOCK"] = "constexpr"
    return src, name, sig, {"BLOCK": GATHER_BLOCK}


def generate_compact(key):
    parts = key.split("|")
    assert parts[0] == "ixc", key
    what = parts[1]
    name = _name("ixc", key)
    head = ["    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)", "    m = offs < n"]
    if what == "count":
        sig = {"x": "*" + SIGNATURE_TYPES[parts[2]], "counts": "*i64", "n": "i64"}
        body = head + ["    flag = (tl.load(x + offs, mask=m, other=0) != 0) & m",
                       "    tl.store(counts + tl.program_id(0), tl.sum(flag.to(tl.int64), axis=0))"]
    elif what == "scan":  # one program: exclusive prefix sums of the block counts, the total at the end
        sig = {"counts": "*i64", "offsets": "*i64", "n": "i64"}
        body = ["    carry = tl.sum(tl.zeros([BLOCK], tl.int64), axis=0)",
                "    for start in range(0, n, BLOCK):",
                "        offs = start + tl.arange(0, BLOCK)",
                "        c = tl.load(counts + offs, mask=offs < n, other=0)",
                "        tl.store(offsets + offs, carry + tl.cumsum(c, axis=0) - c, mask=offs < n)",
                "        carry += tl.sum(c, axis=0)",
                "    tl.store(offsets + n, carry)"]
    elif what == "nonzero":
        nd = int(parts[3])
        sig = {"x": "*" + SIGNATURE_TYPES[parts[2]], "offsets": "*i64", "out": "*i64", "n": "i64"}
        sig.update({f"s{d}": "i64" for d in range(nd)})
        body = head + ["    flag = (tl.load(x + offs, mask=m, other=0) != 0) & m",
                       "    rank = tl.load(offsets + tl.program_id(0)) + tl.cumsum(flag.to(tl.int64), axis=0) - 1",
                       "    rem = offs"]
        for d in reversed(range(nd)):
            body += [f"    tl.store(out + rank * {nd} + {d}, rem % s{d}, mask=flag)", f"    rem = rem // s{d}"]
    elif what == "select":
        sig = {"x": "*" + SIGNATURE_TYPES[parts[2]], "mask": "*i1", "offsets": "*i64", "out": "*" + SIGNATURE_TYPES[parts[2]],
               "n": "i64"}
        body = head + ["    flag = (tl.load(mask + offs, mask=m, other=0) != 0) & m",
                       "    rank = tl.load(offsets + tl.program_id(0)) + tl.cumsum(flag.to(tl.int64), axis=0) - 1",
                       "    tl.store(out + rank, tl.load(x + offs, mask=flag), mask=flag)"]
    else:
        raise KeyError(f"unknown compaction kernel {key!r}")
    src = HEADER + f"\n@triton.jit\ndef {name}({', '.join(sig)}, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n"
    sig["BLOCK"] = "constexpr"
    return src, name, sig, {"BLOCK": COMPACT_BLOCK}


GENERATORS = {"ixr": generate_rows, "ixg": generate_gather, "ixc": generate_compact}


def generate(key):
    """(source code, function name, signature dict, constexpr dict) of the kernel for `key`."""
    gen = GENERATORS.get(key.split("|", 1)[0])
    if gen is None:
        raise KeyError(f"not an indexing kernel key: {key!r}")
    return gen(key)


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
