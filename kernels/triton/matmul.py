"""Matrix-multiply Triton kernels, generated from the key the native core asks for (csrc/cuda/blas_triton.cpp)
when cuBLASLt is not available (or the Triton backend was chosen):

    mm|<dtype>|<out dtype>|<tf32 0/1>|<layout>|<BLOCK_M>|<BLOCK_N>|<BLOCK_K>

layout: three letters. The first two say which stride of A (M x K) and B (K x N) is 1: 'r' row-major (the
column stride is 1), 'c' column-major (the row stride is 1); the generated loads use the literal 1 there so
Triton can vectorise them. The native side makes any other operand contiguous first. The third letter is 'n'
(out = alpha * A @ B) or 'g' (out = alpha * A @ B + beta * C, C read at any strides, stride 0 included, so an
addmm bias broadcast over rows needs no copy).

The key may end in kernels.compile.ALIGNED (aligned_args): then Triton knows the tiles' rows start 16-byte
aligned and moves operands 16 bytes per access (without it a bf16 4096^3 GEMM ran at 36 TFLOP/s on an H200).

Every operand is a batch: program (tile, batch) computes one BLOCK_M x BLOCK_N tile of out[batch] (contiguous,
row-major) with a float32 accumulator (float64 for float64), tiles ordered in groups of GROUP_M rows of tiles
so neighbouring programs share operand tiles in L2. float32 inputs multiply exactly ("ieee") unless the key
asks for TF32.
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 4
GROUP_M = 8
DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_ARGS = ("M", "N", "K", "sab", "sam", "sak", "sbb", "sbk", "sbn", "scb", "scm", "scn")


def parse_key(key):
    parts = key.split("|")
    if len(parts) != 8 or parts[0] != "mm":
        raise ValueError(f"not a matmul kernel key: {key!r}")
    _, dtype, out, tf32, layout, bm, bn, bk = parts
    if dtype not in DTYPES or out not in DTYPES:
        raise KeyError(f"matmul: unsupported dtype in key {key!r}")
    if tf32 not in ("0", "1") or len(layout) != 3 or layout[0] not in "rc" or layout[1] not in "rc" \
            or layout[2] not in "ng":
        raise KeyError(f"matmul: bad flags in key {key!r}")
    blocks = [int(bm), int(bn), int(bk)]
    if any(b < 16 or b & (b - 1) for b in blocks):
        raise KeyError(f"matmul: tile sizes must be powers of two >= 16 (key {key!r})")
    return dtype, out, tf32 == "1", layout, blocks


def generate(key):
    dtype, out, tf32, layout, (bm, bn, bk) = parse_key(key)
    name = "mm_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    acc = "tl.float64" if dtype == "float64" else "tl.float32"
    with_c = layout[2] == "g"
    # The unit stride of each operand is written as a literal, the other one comes from the arguments.
    a_offs = "offs_m[:, None] * sam + kk[None, :]" if layout[0] == "r" else "offs_m[:, None] + kk[None, :] * sak"
    b_offs = "kk[:, None] * sbk + offs_n[None, :]" if layout[1] == "r" else "kk[:, None] + offs_n[None, :] * sbn"
    precision = ', input_precision="tf32"' if tf32 else (', input_precision="ieee"' if dtype == "float32" else "")
    body = [
        "    pid = tl.program_id(0)",
        "    batch = tl.program_id(1).to(tl.int64)",
        "    tiles_m = tl.cdiv(M, BLOCK_M)",
        "    tiles_n = tl.cdiv(N, BLOCK_N)",
        "    per_group = GROUP_M * tiles_n",
        "    first_m = (pid // per_group) * GROUP_M",
        "    group_rows = tl.minimum(tiles_m - first_m, GROUP_M)",
        "    pid_m = first_m + (pid % per_group) % group_rows",
        "    pid_n = (pid % per_group) // group_rows",
        "    offs_m = pid_m.to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)",
        "    offs_n = pid_n.to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)",
        "    mask_m = offs_m < M",
        "    mask_n = offs_n < N",
        "    a_base = a_ptr + batch * sab",
        "    b_base = b_ptr + batch * sbb",
        f"    acc = tl.zeros([BLOCK_M, BLOCK_N], {acc})",
        "    for k0 in range(0, K, BLOCK_K):",
        "        kk = k0 + tl.arange(0, BLOCK_K)",
        "        mask_k = kk < K",
        f"        a = tl.load(a_base + ({a_offs}), mask=mask_m[:, None] & mask_k[None, :], other=0.0)",
        f"        b = tl.load(b_base + ({b_offs}), mask=mask_k[:, None] & mask_n[None, :], other=0.0)",
        # Triton has no float64 tl.dot on every target: float64 multiplies and sums the tile itself.
        "        acc += tl.sum(a[:, :, None] * b[None, :, :], axis=1)" if dtype == "float64" else
        f"        acc = tl.dot(a, b, acc{precision})",
        f"    r = acc * alpha.to({acc})",
        "    mask = mask_m[:, None] & mask_n[None, :]",
    ]
    if with_c:  # beta * C, read in the accumulator type (beta == 0 never gets here: C is not read then)
        body += [
            "    c = tl.load(c_ptr + batch * scb + offs_m[:, None] * scm + offs_n[None, :] * scn, mask=mask)",
            f"    r += beta.to({acc}) * c.to({acc})",
        ]
    body.append(f"    tl.store(out_ptr + batch * M * N + offs_m[:, None] * N + offs_n[None, :], r.to({TRITON_TYPES[out]}),"
                " mask=mask)")
    args = ["a_ptr", "b_ptr", "c_ptr", "out_ptr", *INT_ARGS, "alpha", "beta"]
    signature = {"a_ptr": "*" + SIGNATURE_TYPES[dtype], "b_ptr": "*" + SIGNATURE_TYPES[dtype],
                 "c_ptr": "*" + SIGNATURE_TYPES[out], "out_ptr": "*" + SIGNATURE_TYPES[out]}
    signature.update({a: "i64" for a in INT_ARGS})
    signature.update({"alpha": "fp64", "beta": "fp64"})
    constexprs = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": GROUP_M}
    signature.update({c: "constexpr" for c in constexprs})
    src = ("import triton\nimport triton.language as tl\n\n\n@triton.jit\n"
           f"def {name}({', '.join(args)}, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,"
           " GROUP_M: tl.constexpr):\n" + "\n".join(body) + "\n")
    return src, name, signature, constexprs


def aligned_args(key):
    """What the native launcher checks before it asks for `key` + kernels.compile.ALIGNED: A, B and out
    16-byte aligned, M, N, K, the batch strides and the non-unit strides of A and B multiples of 16 (every tile
    row then starts aligned). C, read at any strides, is not declared."""
    _, _, _, layout, _ = parse_key(key)
    return ["a_ptr", "b_ptr", "out_ptr", "M", "N", "K", "sab", "sam" if layout[0] == "r" else "sak", "sbb",
            "sbk" if layout[1] == "r" else "sbn"]


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
