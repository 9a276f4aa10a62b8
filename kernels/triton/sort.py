"""Sort Triton kernels (sort, argsort, topk), generated from the keys the native core asks for
(csrc/cuda/sort.cpp). Every row of the input, viewed as [O, N, I] with element strides (row r = o * I + i),
is sorted along N.

Ordering: each value becomes an integer key whose signed order is PyTorch's order (floats: -0 == +0, every
NaN one key above +inf; descending: the bitwise complement), and the network sorts (key, position) pairs
lexicographically. Positions are unique, so the order is total and the sort is stable; NaN is largest.

    sort|<dtype>|<descending 0/1>|<BLOCK>|<ROWS>|<source>|<destination>

sorts BLOCK-element blocks (a bitonic network on the padded power-of-two block, ROWS rows per program for
short rows) of the input (source "x") or of (key, position) rows of an earlier pass (source "kp").
Destination "out": a block is a whole row; its first K entries are written as values (gathered from the
input by position, so NaN payloads survive) and int64 indices into [O, K, I] outputs with element strides.
Destination "runs": the first KB entries of each sorted block go to [rows, M_out] scratch, back to back.
With KB = BLOCK that is sorted runs of the whole row, which

    smerge|<key type>|<BLOCK>

merges pairwise (width -> 2 * width: each element finds its rank in the partner run by binary search) until
one run is left, and

    sgather|<dtype>|<BLOCK>

writes the first K entries of the sorted (key, position) rows as values and indices. topk with k well
below the block size runs a tournament instead: each "runs" pass keeps the first KB = k entries of each
block (M -> M / BLOCK * k), until one block holds the rest and a "kp" -> "out" pass writes the answer.
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 8  # a 4096-element block is 16 elements per thread (with 4 warps the cubin is twice as large)

KEY_TYPES = {"float64": "int64", "int64": "int64"}  # all other dtypes fit their key in int32
BITS = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}

HELPERS = '''

@triton.jit
def _indicator(n_dims: tl.constexpr, j: tl.constexpr):
    ar = tl.arange(0, 2)
    ar = tl.reshape(ar, [1] * (n_dims - j - 1) + [2] + [1] * j)
    return ar


@triton.jit
def _compare_swap(k, p, flip, i: tl.constexpr, n_dims: tl.constexpr):
    # partner along the i-th innermost hypercube dim: x ^ (x ^ partner) (the xor folds the pair)
    kk = k ^ tl.xor_sum(k, n_dims - 1 - i, True)
    pp = p ^ tl.xor_sum(p, n_dims - 1 - i, True)
    is_right = _indicator(n_dims, i)
    greater = (k > kk) | ((k == kk) & (p > pp))
    swap = greater != (flip ^ is_right).to(tl.int1)
    return tl.where(swap, kk, k), tl.where(swap, pp, p)


@triton.jit
def _bitonic_sort_pairs(k, p, ROWS: tl.constexpr, BLOCK: tl.constexpr, LOG_N: tl.constexpr,
                        LOG_T: tl.constexpr):
    # ascending (key, position) sort of every row of k, p ([ROWS, BLOCK = 2**LOG_N]) on the 2x...x2 hypercube
    # of the whole tile (2**LOG_T elements); stages only pair elements within a row
    n_dims: tl.constexpr = LOG_T
    k = tl.reshape(k, [2] * LOG_T)
    p = tl.reshape(p, [2] * LOG_T)
    for stage in tl.static_range(1, LOG_N + 1):
        if stage < LOG_N:
            flip = _indicator(n_dims, stage)
        else:
            flip = 0
        for i in tl.static_range(stage):
            k, p = _compare_swap(k, p, flip, stage - 1 - i, n_dims)
    return tl.reshape(k, [ROWS, BLOCK]), tl.reshape(p, [ROWS, BLOCK])
'''


EXP_MASKS = {16: {"float16": 0x7C00, "bfloat16": 0x7F80}, 32: 0x7F800000, 64: 0x7FF0000000000000}


def _key_expr(dtype, ktype):
    """Triton code turning `x` into `key` (type ktype) ordered like PyTorch ascending. Floats are classified
    on their bits (the interpreter compares bfloat16 NaNs wrongly): NaN above everything, -0 as +0, and a
    negative float's magnitude bits flipped so that signed integer order is float order."""
    tk = TRITON_TYPES[ktype]
    if dtype in BITS:
        bits = BITS[dtype]
        top = 2 ** (bits - 1) - 1
        exp = EXP_MASKS[bits][dtype] if bits == 16 else EXP_MASKS[bits]
        return [f"    b = x.to(tl.int{bits}, bitcast=True).to({tk})",
                f"    mag = b & {top}",
                f"    key = tl.where(mag > {exp}, {top}, tl.where(mag == 0, 0, tl.where(b < 0, b ^ {top}, b)))"]
    return [f"    key = x.to({tk})"]


def _ktype(dtype):
    return KEY_TYPES.get(dtype, "int32")


def _kmax(ktype):
    return str(2 ** 63 - 1 if ktype == "int64" else 2 ** 31 - 1)


def _row_base():
    return ["    o = r // I",
            "    i = r - o * I",
            "    base = o * so + i * si"]


def generate_sort(key):
    _, dtype, desc, block, rows, src, dst = key.split("|")
    block, rows = int(block), int(rows)
    log_n, log_t = block.bit_length() - 1, (block * rows).bit_length() - 1
    if src not in ("x", "kp") or dst not in ("out", "runs") or log_n < 1 or 1 << log_t != block * rows:
        raise ValueError(f"bad sort kernel key {key!r} (blocks and row counts are powers of two, blocks >= 2)")
    ktype = _ktype(dtype)
    name = "sort_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    ptrs = ["in_ptr"] + (["kin", "pin"] if src == "kp" else []) + \
        (["val_ptr", "idx_ptr"] if dst == "out" else ["kout", "pout"])
    ints = ["R", "I", "N", "so", "sn", "si"] + (["K", "oo", "on", "oi"] if dst == "out" else ["KB", "M_out"])
    types = {"in_ptr": SIGNATURE_TYPES[dtype], "val_ptr": SIGNATURE_TYPES[dtype], "idx_ptr": "i64",
             "kin": SIGNATURE_TYPES[ktype], "kout": SIGNATURE_TYPES[ktype], "pin": "i32", "pout": "i32"}
    signature = {p: "*" + types[p] for p in ptrs}
    signature.update({a: "i64" for a in ints})
    signature.update(BLOCK="constexpr", ROWS="constexpr", LOG_N="constexpr", LOG_T="constexpr")
    body = ["    r = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)[:, None]",
            "    blk = tl.program_id(1).to(tl.int64)",
            "    jj = tl.arange(0, BLOCK)[None, :]",
            "    j = blk * BLOCK + jj",
            "    m = (r < R) & (j < N)"] + _row_base()
    if src == "x":  # positions past the row sort after every real entry with the same key
        body += ["    x = tl.load(in_ptr + base + j * sn, mask=m)"] + _key_expr(dtype, ktype)
        if desc == "1":
            body.append("    key = ~key")
        body.append("    pos = tl.broadcast_to(tl.where(j < N, j, N + j).to(tl.int32), [ROWS, BLOCK])")
    else:  # keys and positions of an earlier pass: [R, N] scratch rows
        body += ["    key = tl.load(kin + r * N + j, mask=m)",
                 "    pos = tl.load(pin + r * N + j, mask=m, other=2**31 - 1)"]
    body += [f"    key = tl.where(m, key, {_kmax(ktype)})",
             "    key, pos = _bitonic_sort_pairs(key, pos, ROWS, BLOCK, LOG_N, LOG_T)"]
    if dst == "out":  # one block is the whole row: its first K entries, values gathered from the input
        body += ["    k_out = m & (jj < K)",
                 "    v = tl.load(in_ptr + base + pos.to(tl.int64) * sn, mask=k_out)",
                 "    tl.store(val_ptr + o * oo + i * oi + jj * on, v, mask=k_out)",
                 "    tl.store(idx_ptr + o * oo + i * oi + jj * on, pos.to(tl.int64), mask=k_out)"]
    else:  # the first KB entries of each sorted block, blocks back to back in rows of M_out
        body += ["    w = (r < R) & (jj < KB) & (blk * KB + jj < M_out)",
                 "    tl.store(kout + r * M_out + blk * KB + jj, key, mask=w)",
                 "    tl.store(pout + r * M_out + blk * KB + jj, pos, mask=w)"]
    src = ("import triton\nimport triton.language as tl\n" + HELPERS + "\n\n@triton.jit\n" +
           f"def {name}({', '.join(ptrs + ints)}, BLOCK: tl.constexpr, ROWS: tl.constexpr, LOG_N: tl.constexpr, "
           "LOG_T: tl.constexpr):\n" + "\n".join(body) + "\n")
    return src, name, signature, {"BLOCK": block, "ROWS": rows, "LOG_N": log_n, "LOG_T": log_t}


def generate_merge(key):
    _, ktype, block = key.split("|")
    name = "smerge_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    signature = {"kin": "*" + SIGNATURE_TYPES[ktype], "pin": "*i32", "kout": "*" + SIGNATURE_TYPES[ktype],
                 "pout": "*i32", "N": "i64", "nb": "i64", "width": "i64", "n_iter": "i32", "BLOCK": "constexpr"}
    body = [  # one flat grid: program = row * nb + block of the row
        "    pid = tl.program_id(0).to(tl.int64)",
        "    r = pid // nb",
        "    j = (pid - r * nb) * BLOCK + tl.arange(0, BLOCK)",
        "    m = j < N",
        "    k = tl.load(kin + r * N + j, mask=m)",
        "    p = tl.load(pin + r * N + j, mask=m)",
        "    run = j // width",
        "    left = (run % 2) == 0",
        "    own = run * width",
        "    other = tl.where(left, own + width, own - width)",
        "    other_len = tl.where(left, tl.minimum(tl.maximum(N - other, 0), width), width)",
        "    lo = tl.zeros([BLOCK], tl.int64)",
        "    hi = other_len",
        "    for _ in range(n_iter):",  # rank of (k, p) in the partner run: how many entries there are smaller
        "        active = lo < hi",
        "        mid = (lo + hi) // 2",
        "        km = tl.load(kin + r * N + other + mid, mask=m & active)",
        "        pm = tl.load(pin + r * N + other + mid, mask=m & active)",
        "        less = (km < k) | ((km == k) & (pm < p))",
        "        lo = tl.where(active & less, mid + 1, lo)",
        "        hi = tl.where(active & ~less, mid, hi)",
        "    dest = tl.minimum(own, other) + (j - own) + lo",
        "    tl.store(kout + r * N + dest, k, mask=m)",
        "    tl.store(pout + r * N + dest, p, mask=m)",
    ]
    src = "import triton\nimport triton.language as tl\n\n\n@triton.jit\n" + \
        f"def {name}(kin, pin, kout, pout, N, nb, width, n_iter, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK": int(block)}


def generate_gather(key):
    _, dtype, block = key.split("|")
    name = "sgather_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    ints = ["I", "N", "K", "nb", "so", "sn", "si", "oo", "on", "oi"]
    signature = {"in_ptr": "*" + SIGNATURE_TYPES[dtype], "pos_ptr": "*i32", "val_ptr": "*" + SIGNATURE_TYPES[dtype],
                 "idx_ptr": "*i64"}
    signature.update({a: "i64" for a in ints})
    signature["BLOCK"] = "constexpr"
    body = ["    pid = tl.program_id(0).to(tl.int64)",
            "    r = pid // nb",
            "    j = (pid - r * nb) * BLOCK + tl.arange(0, BLOCK)",
            "    m = j < K"] + _row_base() + [
            "    p = tl.load(pos_ptr + r * N + j, mask=m).to(tl.int64)",
            "    v = tl.load(in_ptr + base + p * sn, mask=m)",
            "    tl.store(val_ptr + o * oo + i * oi + j * on, v, mask=m)",
            "    tl.store(idx_ptr + o * oo + i * oi + j * on, p, mask=m)"]
    src = "import triton\nimport triton.language as tl\n\n\n@triton.jit\n" + \
        f"def {name}(in_ptr, pos_ptr, val_ptr, idx_ptr, {', '.join(ints)}, BLOCK: tl.constexpr):\n" + \
        "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK": int(block)}


GENERATE = {"sort": generate_sort, "smerge": generate_merge, "sgather": generate_gather}


def generate(key):
    kind = key.split("|", 1)[0]
    if kind not in GENERATE:
        raise ValueError(f"not a sort kernel key: {key!r}")
    return GENERATE[kind](key)


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
