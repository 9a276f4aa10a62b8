"""Rotary position embedding Triton kernel, generated from the key the native core asks for
(csrc/cuda/rotary.cpp):

    rope|<x dtype>|<cos dtype>|<interleaved 0/1>|<inverse 0/1>|<ROWS>|<BLOCK_H>|<BLOCK_R>|<BLOCK_P>

x is seen as [B, T, H, D] with element strides (the last dim contiguous); cos and sin are contiguous
[>= T, R / 2] rows (R <= D, the rotated part). Pair i of a head, (x1, x2), is (x[i], x[i + R/2]) (GPT-NeoX's
rotate_half; interleaved: GPT-J's (x[2i], x[2i + 1])) and becomes
    (x1 cos - x2 sin, x2 cos + x1 sin)
in fp32 (fp64 for float64 x), rounded once; inverse rotates by -theta (sin negated): the backward.
Dims R..D pass through. One program takes ROWS (b, t) rows, all heads: cos and sin are read once per row.
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 4


def parse_key(key):
    parts = key.split("|")
    if len(parts) != 9 or parts[0] != "rope" or parts[3] not in ("0", "1") or parts[4] not in ("0", "1"):
        raise KeyError(f"not a rotary kernel key: {key!r}")
    return parts[1], parts[2], parts[3] == "1", parts[4] == "1", *map(int, parts[5:])


def generate(key):
    dtype, cdtype, interleaved, inverse, rows, block_h, block_r, block_p = parse_key(key)
    ct = "tl.float64" if dtype == "float64" else "tl.float32"
    args = ["x_ptr", "cos_ptr", "sin_ptr", "out_ptr", "BT", "T", "H", "HALF", "PASS",
            "sxb", "sxt", "sxh", "sob", "sot", "soh", "sc"]
    first, second = ("2 * j", "2 * j + 1") if interleaved else ("j", "HALF + j")
    body = [
        "    r = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)",
        "    b = r // T",
        "    t = r - b * T",
        "    h = tl.arange(0, BLOCK_H)",
        "    j = tl.arange(0, BLOCK_R)",
        # [ROWS, BLOCK_H, 1] element offsets of each (row, head), then [.., .., BLOCK_R] of each pair
        "    rm = (r < BT)[:, None, None] & (h < H)[None, :, None]",
        "    xo = (b * sxb + t * sxt)[:, None, None] + (h * sxh)[None, :, None]",
        "    oo = (b * sob + t * sot)[:, None, None] + (h * soh)[None, :, None]",
        "    m = rm & (j < HALF)[None, None, :]",
        "    cm = (r < BT)[:, None] & (j < HALF)[None, :]",
        f"    c = tl.load(cos_ptr + t[:, None] * sc + j[None, :], mask=cm, other=0).to({ct})[:, None, :]",
        f"    s = tl.load(sin_ptr + t[:, None] * sc + j[None, :], mask=cm, other=0).to({ct})[:, None, :]",
        f"    x1 = tl.load(x_ptr + xo + ({first})[None, None, :], mask=m, other=0).to({ct})",
        f"    x2 = tl.load(x_ptr + xo + ({second})[None, None, :], mask=m, other=0).to({ct})",
    ]
    if inverse:
        body.append("    s = -s")
    out = TRITON_TYPES[dtype]
    body += [
        f"    tl.store(out_ptr + oo + ({first})[None, None, :], (x1 * c - x2 * s).to({out}), mask=m)",
        f"    tl.store(out_ptr + oo + ({second})[None, None, :], (x2 * c + x1 * s).to({out}), mask=m)",
    ]
    if block_p:  # the dims past the rotated ones are copied
        body += [
            "    p = 2 * HALF + tl.arange(0, BLOCK_P)",
            "    pm = rm & (p < 2 * HALF + PASS)[None, None, :]",
            "    tl.store(out_ptr + oo + p[None, None, :], tl.load(x_ptr + xo + p[None, None, :], mask=pm), mask=pm)",
        ]
    name = "rope_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    signature = {a: "i64" for a in args}
    signature.update(x_ptr="*" + SIGNATURE_TYPES[dtype], out_ptr="*" + SIGNATURE_TYPES[dtype],
                     cos_ptr="*" + SIGNATURE_TYPES[cdtype], sin_ptr="*" + SIGNATURE_TYPES[cdtype])
    constexprs = {"ROWS": rows, "BLOCK_H": block_h, "BLOCK_R": block_r, "BLOCK_P": block_p}
    signature.update(dict.fromkeys(constexprs, "constexpr"))
    src = ("import triton\nimport triton.language as tl\n\n\n@triton.jit\n"
           f"def {name}({', '.join(args)}, ROWS: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_R: tl.constexpr, "
           "BLOCK_P: tl.constexpr):\n" + "\n".join(body) + "\n")
    return src, name, signature, constexprs


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
