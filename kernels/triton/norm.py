"""LayerNorm / RMSNorm Triton kernels, generated from the key the native core asks for (csrc/cuda/norm.cpp):

    norm|<fwd or bwd>|<ln or rms>|<x dtype>|<affine: w, wb or ->|<BLOCK>

The key may end in kernels.compile.ALIGNED (aligned_args). A row of N <= BLOCK elements (the normalised dims, contiguous) is held whole in registers, statistics in
fp32 (fp64 for float64 rows).
  fwd: one program per row; writes y (x's dtype) and the row's mean (LayerNorm only) and rstd.
  bwd: a grid of G programs, program p taking rows p, p + G, ...: dx from the saved statistics in one read
       of x and dy, and the weight (and bias) gradient of its rows summed into row p of a [G, N] fp32
       buffer, which the native side folds over G with the column reduction (deterministic: no atomics).
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

AFFINE = {"-": "no weight, no bias", "w": "weight only", "wb": "weight and bias"}


def parse_key(key):
    parts = key.split("|")
    if len(parts) != 6 or parts[0] != "norm" or parts[1] not in ("fwd", "bwd") or parts[2] not in ("ln", "rms") \
            or parts[4] not in AFFINE:
        raise KeyError(f"not a norm kernel key: {key!r}")
    return parts[1], parts[2], parts[3], parts[4], int(parts[5])


def num_warps(key):
    """Enough threads that each holds 16 elements of the row forward and 8 backward (which keeps about
    seven row-sized values live: x, dy, w, the two gradient sums, xhat, w * dy); more per thread spills
    registers or leaves one block per SM (checked with cuobjdump --dump-resource-usage for sm_90)."""
    direction, _, _, _, block = parse_key(key)
    return max(1, min(32, block // (512 if direction == "fwd" else 256)))


def _stats_type(dtype):
    return "tl.float64" if dtype == "float64" else "tl.float32"


def _forward(kind, dtype, affine):
    ct = _stats_type(dtype)
    args = ["x_ptr"] + (["w_ptr"] if affine != "-" else []) + (["b_ptr"] if affine == "wb" else []) + \
        ["y_ptr"] + (["mean_ptr"] if kind == "ln" else []) + ["rstd_ptr", "N", "eps"]
    body = [
        "    row = tl.program_id(0).to(tl.int64)",
        "    offs = tl.arange(0, BLOCK)",
        "    m = offs < N",
        f"    x = tl.load(x_ptr + row * N + offs, mask=m, other=0).to({ct})",
    ]
    if kind == "ln":
        body += ["    mean = tl.sum(x, axis=0) / N",
                 "    xc = tl.where(m, x - mean, 0.0)",
                 "    tl.store(mean_ptr + row, mean)"]
    else:
        body.append("    xc = x")
    body += [
        f"    rstd = 1.0 / tl.sqrt(tl.sum(xc * xc, axis=0) / N + eps.to({ct}))",
        "    tl.store(rstd_ptr + row, rstd)",
        "    y = xc * rstd",
    ]
    if affine != "-":  # in fp32 and rounded once, as PyTorch's fused kernel does
        body.append(f"    y = y * tl.load(w_ptr + offs, mask=m, other=0).to({ct})")
    if affine == "wb":
        body.append(f"    y = y + tl.load(b_ptr + offs, mask=m, other=0).to({ct})")
    body.append(f"    tl.store(y_ptr + row * N + offs, y.to({TRITON_TYPES[dtype]}), mask=m)")
    return args, body


def _backward(kind, dtype, affine):
    ct = _stats_type(dtype)
    args = ["dy_ptr", "x_ptr"] + (["w_ptr"] if affine != "-" else []) + (["mean_ptr"] if kind == "ln" else []) + \
        ["rstd_ptr", "dx_ptr"] + (["dw_ptr"] if affine != "-" else []) + (["db_ptr"] if affine == "wb" else []) + \
        ["M", "N"]
    body = [
        "    pid = tl.program_id(0)",
        "    offs = tl.arange(0, BLOCK)",
        "    m = offs < N",
    ]
    if affine != "-":
        body += [f"    w = tl.load(w_ptr + offs, mask=m, other=0).to({ct})",
                 f"    dw = tl.zeros([BLOCK], {ct})"]
    if affine == "wb":
        body.append(f"    db = tl.zeros([BLOCK], {ct})")
    # RMSNorm issues the next row's loads before this row's sums (its x, dy and rstd ride in registers to the
    # next step), where a program otherwise waits out each load with no other load in flight: on an H100,
    # 16384x4096 bfloat16 forward+backward went from 93% to 96% of the copy bandwidth at the same 59 registers.
    # LayerNorm loads each row at the top of its step: prefetching raised it from 60 registers to 91, one
    # program per SM instead of two, and 86% to 82%. Past the last row the rows load nothing (mask) and the
    # statistics reread the last row's (an index, not a mask: the interpreter takes no scalar mask).
    ln = kind == "ln"

    def loads(at, rows_mask, stat):  # a row's x and dy (at `at`, under rows_mask) and its statistics (at stat)
        return [f"        x_n = tl.load(x_ptr + {at} * N + offs, mask={rows_mask}, other=0)",
                f"        dy_n = tl.load(dy_ptr + {at} * N + offs, mask={rows_mask}, other=0)",
                f"        rstd_n = tl.load(rstd_ptr + {stat})"] + \
            ([f"        mean_n = tl.load(mean_ptr + {stat})"] if ln else [])
    take = [f"        x, dy, rstd = x_n.to({ct}), dy_n.to({ct}), rstd_n"] + (["        mean = mean_n"] if ln else [])
    body += ["    G = tl.num_programs(0)"]
    if ln:
        body += ["    for r in range(pid, M, G):", "        row = tl.cast(r, tl.int64)"]
        body += loads("row", "m", "row") + take
    else:
        # (m & a scalar: the interpreter makes an int32 mask of it, hence the row length as a limit)
        ahead = ["        lim = tl.where(nxt < M, N, 0)"] + loads("nxt", "offs < lim", "tl.minimum(nxt, M - 1)")
        body += ["    nxt = pid.to(tl.int64)"] + [line[4:] for line in ahead]
        body += ["    for r in range(pid, M, G):", "        row = tl.cast(r, tl.int64)"] + take + \
            ["        nxt = row + G"] + ahead
    body += [
        "        xhat = tl.where(m, (x - mean) * rstd, 0.0)" if ln else "        xhat = x * rstd",
        "        wdy = dy * w" if affine != "-" else "        wdy = dy",
        # d/dx of (x - mean) * rstd, projected: dx = rstd * (wdy - xhat * mean(xhat * wdy) [- mean(wdy)])
        "        c1 = tl.sum(xhat * wdy, axis=0) / N",
    ]
    if ln:
        body += ["        c2 = tl.sum(wdy, axis=0) / N",
                 "        dx = (wdy - (xhat * c1 + c2)) * rstd"]
    else:
        body.append("        dx = (wdy - xhat * c1) * rstd")
    body.append(f"        tl.store(dx_ptr + row * N + offs, dx.to({TRITON_TYPES[dtype]}), mask=m)")
    if affine != "-":
        body.append("        dw += dy * xhat")
    if affine == "wb":
        body.append("        db += dy")
    if affine != "-":
        body.append("    tl.store(dw_ptr + pid.to(tl.int64) * N + offs, dw, mask=m)")
    if affine == "wb":
        body.append("    tl.store(db_ptr + pid.to(tl.int64) * N + offs, db, mask=m)")
    return args, body


def generate(key):
    direction, kind, dtype, affine, block = parse_key(key)
    name = "norm_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    args, body = (_forward if direction == "fwd" else _backward)(kind, dtype, affine)
    stats = "*" + ("fp64" if dtype == "float64" else "fp32")  # statistics and weight-gradient partials
    types = {"x_ptr": "*" + SIGNATURE_TYPES[dtype], "y_ptr": "*" + SIGNATURE_TYPES[dtype],
             "w_ptr": "*" + SIGNATURE_TYPES[dtype], "b_ptr": "*" + SIGNATURE_TYPES[dtype],
             "dy_ptr": "*" + SIGNATURE_TYPES[dtype], "dx_ptr": "*" + SIGNATURE_TYPES[dtype],
             "mean_ptr": stats, "rstd_ptr": stats, "dw_ptr": stats, "db_ptr": stats,
             "M": "i64", "N": "i64", "eps": "fp64"}
    signature = {a: types[a] for a in args}
    signature["BLOCK"] = "constexpr"
    src = "import triton\nimport triton.language as tl\n\n\n@triton.jit\n" + \
        f"def {name}({', '.join(args)}, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK": block}


ROW_POINTERS = ("x_ptr", "w_ptr", "b_ptr", "y_ptr", "dy_ptr", "dx_ptr", "dw_ptr", "db_ptr")


def aligned_args(key):
    """What the native launcher checks before it asks for `key` + kernels.compile.ALIGNED: every pointer to
    row data 16-byte aligned and N a multiple of 16 (every row then starts aligned)."""
    direction, kind, dtype, affine, _ = parse_key(key)
    args = (_forward if direction == "fwd" else _backward)(kind, dtype, affine)[0]
    return [a for a in args if a in ROW_POINTERS] + ["N"]


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    fn = _write_and_import(src, name, cache_dir, module_suffix)
    return fn, signature, constexprs
