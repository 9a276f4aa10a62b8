"""Scan (cumsum / cumprod) Triton kernels, generated from the key the native core asks for (csrc/cuda/scan.cpp):

    scan|<op>|<input dtype>|<output dtype>|<accumulator dtype>|<BLOCK_N>|<BLOCK_I>|<carry 0/1>

The input is viewed as [O, N, I] with element strides and scanned along N; the output is [O, N, I]
contiguous. Program (o, i-tile, split) walks its share of N in BLOCK_N x BLOCK_I tiles: each tile is scanned
with tl.associative_scan along axis 0 and offset by the running value carried from the previous tile (so
an I > 1 layout reads whole rows of neighbouring columns at once). Long rows with few programs are split
across programs: the native side first folds each split's total (a reduction), scans those totals with
this same kernel, and then runs the carry=1 variant, where split s starts from the scanned total of split
s - 1 (carry_ptr: [splits, O, I] contiguous, accumulator dtype).
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 4

# op -> (identity, combine function name)
SCANS = {"sum": ("0", "_add"), "prod": ("1", "_mul")}

HELPERS = '''

@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _mul(a, b):
    return a * b
'''


def parse_key(key):
    kind, op, ins, out, acc, bn, bi, carry = key.split("|")
    if kind != "scan":
        raise ValueError(f"not a scan kernel key: {key!r}")
    if op not in SCANS:
        raise KeyError(f"no scan '{op}' (key {key!r})")
    return op, ins, out, acc, int(bn), int(bi), carry == "1"


def generate(key):
    op, ins, out, acc, block_n, block_i, carry = parse_key(key)
    ident, combine = SCANS[op]
    name = "scan_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    tacc, tout = TRITON_TYPES[acc], TRITON_TYPES[out]
    args = ["in_ptr", "out_ptr"] + (["carry_ptr"] if carry else []) + ["O", "N", "I", "so", "sn", "si",
                                                                      "n_per_split"]
    signature = {"in_ptr": "*" + SIGNATURE_TYPES[ins], "out_ptr": "*" + SIGNATURE_TYPES[out]}
    if carry:
        signature["carry_ptr"] = "*" + SIGNATURE_TYPES[acc]
    signature.update({a: "i64" for a in ("O", "N", "I", "so", "sn", "si", "n_per_split")})
    signature["BLOCK_N"] = signature["BLOCK_I"] = "constexpr"
    body = [
        "    o = tl.program_id(0).to(tl.int64)",
        "    offs_i = tl.program_id(1).to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)",
        "    split = tl.program_id(2).to(tl.int64)",
        "    mask_i = offs_i < I",
        "    n_begin = split * n_per_split",
        "    n_end = tl.minimum(n_begin + n_per_split, N)",
        "    src = in_ptr + o * so + offs_i[None, :] * si",
        "    dst = out_ptr + o * N * I + offs_i[None, :]",
    ]
    if carry:  # split s starts from the inclusive scan of the split totals at s - 1 (split 0: identity)
        body.append(f"    c = tl.load(carry_ptr + (split - 1) * O * I + o * I + offs_i, "
                    f"mask=mask_i & (tl.zeros([BLOCK_I], tl.int64) + split > 0), other={ident}).to({tacc})")
    else:
        body.append(f"    c = tl.full([BLOCK_I], {ident}, {tacc})")
    body += [
        "    for n0 in range(n_begin, n_end, BLOCK_N):",
        "        offs_n = n0 + tl.arange(0, BLOCK_N)",
        "        m = (offs_n < n_end)[:, None] & mask_i[None, :]",
        f"        x = tl.load(src + offs_n[:, None] * sn, mask=m, other={ident}).to({tacc})",
        f"        s = {combine}(tl.associative_scan(x, 0, {combine}), c[None, :])",
        f"        tl.store(dst + offs_n[:, None] * I, s.to({tout}), mask=m)",
        # the carry into the next tile is the scan's last valid row (exact: the other rows fold as identity)
        "        last = tl.minimum(n0 + BLOCK_N, n_end) - 1",
        f"        c = tl.reduce(tl.where((offs_n == last)[:, None], s, {ident}), 0, {combine})",
    ]
    src = "import triton\nimport triton.language as tl\n" + HELPERS + "\n\n@triton.jit\n" + \
        f"def {name}({', '.join(args)}, BLOCK_N: tl.constexpr, BLOCK_I: tl.constexpr):\n" + "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK_N": block_n, "BLOCK_I": block_i}


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
