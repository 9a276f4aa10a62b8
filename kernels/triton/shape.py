"""tril / triu Triton kernels, generated from the key the native core asks for (csrc/cuda/shape.cpp):

    tri|<lower 0/1>|<element type: int8/int16/int32/int64 by element size>|<zeros only 0/1>|<BLOCK>

Matrices [B, M, N] with element strides for input and output; program p covers BLOCK elements of matrix
p // tiles. Elements are moved as integers of their size (no arithmetic, so one kernel serves every dtype of
that size: zero bits are 0, 0.0 and False alike). "zeros only" (in-place tril_/triu_) writes just the
zeroed part.
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, _write_and_import

NUM_WARPS = 4


def generate(key):
    kind, lower, etype, zeros_only, block = key.split("|")
    if kind != "tri" or etype not in ("int8", "int16", "int32", "int64"):
        raise ValueError(f"not a tril/triu kernel key: {key!r}")
    name = "tri_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    ints = ["M", "N", "tiles", "sb", "sm", "sn", "ob", "om", "on", "diag"]
    signature = {"in_ptr": "*" + SIGNATURE_TYPES[etype], "out_ptr": "*" + SIGNATURE_TYPES[etype]}
    signature.update({a: "i64" for a in ints})
    signature["BLOCK"] = "constexpr"
    keep = "j <= i + diag" if lower == "1" else "j >= i + diag"
    body = [
        "    pid = tl.program_id(0).to(tl.int64)",
        "    b = pid // tiles",
        "    offs = (pid - b * tiles) * BLOCK + tl.arange(0, BLOCK)",
        "    m = offs < M * N",
        "    i = offs // N",
        "    j = offs - i * N",
        f"    keep = {keep}",
        "    dst = out_ptr + b * ob + i * om + j * on",
    ]
    if zeros_only == "1":
        body.append("    tl.store(dst, tl.zeros([BLOCK], out_ptr.dtype.element_ty), mask=m & ~keep)")
    else:
        body += ["    x = tl.load(in_ptr + b * sb + i * sm + j * sn, mask=m & keep, other=0)",
                 "    tl.store(dst, x, mask=m)"]
    src = "import triton\nimport triton.language as tl\n\n\n@triton.jit\n" + \
        f"def {name}(in_ptr, out_ptr, {', '.join(ints)}, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n"
    return src, name, signature, {"BLOCK": int(block)}


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
