"""Bias + activation Triton kernels (y = act(x + b), b broadcast over the rows), generated from the key the
native core asks for (csrc/cuda/fused_act.cpp):

    bact|fwd|<act>|<dtype>|<BLOCK_M>|<BLOCK_N>
    bact|bwd|<act>|<dtype>|<bias grad 0/1>|<BLOCK_M>|<BLOCK_N>

A key may end in kernels.compile.ALIGNED (aligned_args). act: gelu, gelu_tanh or silu. x is contiguous [M, N],
b is [N], both of one dtype; the sum and the activation run in fp32 (fp64 for float64) and round once.
  fwd: a grid of [BLOCK_M, BLOCK_N] tiles.
  bwd: a grid (G, N / BLOCK_N); program (p, q) takes the row tiles p, p + G, ... of column block q, writes
       dx = dy * act'(x + b) (x + b recomputed: only x and b are saved) and, with the bias gradient, sums
       its dx tiles into row p of a [G, N] fp32 buffer, which the native side folds over G with the column
       reduction (deterministic: no atomics).
The activations and their derivatives are the elementwise table's expressions (elementwise.OPS).
"""
import hashlib

from .elementwise import ACTIVATION_GRADS, OPS, SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

ACTIVATIONS = ("gelu", "gelu_tanh", "silu")
NUM_WARPS = 4


def parse_key(key):
    parts = key.split("|")
    if parts[0] != "bact" or len(parts) != (6 if parts[1:2] == ["fwd"] else 7) or parts[2] not in ACTIVATIONS:
        raise KeyError(f"not a bias-activation kernel key: {key!r}")
    direction, act, dtype = parts[1], parts[2], parts[3]
    bias_grad = parts[4] == "1" if direction == "bwd" else False
    return direction, act, dtype, bias_grad, int(parts[-2]), int(parts[-1])


def _tile(ct):
    """The tile's rows, columns, mask and element offsets, and z = x + b in the compute type."""
    return [
        "    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)",
        "    cm = cols < N",
        f"    b = tl.load(b_ptr + cols, mask=cm, other=0).to({ct})",
    ], [
        "    rows = r0 + tl.arange(0, BLOCK_M)",
        "    m = (rows < M)[:, None] & cm[None, :]",
        "    offs = rows[:, None] * N + cols[None, :]",
        f"    z = tl.load(x_ptr + offs, mask=m, other=0).to({ct}) + b[None, :]",
    ]


def generate(key):
    direction, act, dtype, bias_grad, block_m, block_n = parse_key(key)
    ct = "tl.float64" if dtype == "float64" else "tl.float32"
    out = TRITON_TYPES[dtype]
    head, tile = _tile(ct)
    if direction == "fwd":
        args = ["x_ptr", "b_ptr", "y_ptr", "M", "N"]
        body = head + ["    r0 = tl.program_id(0).to(tl.int64) * BLOCK_M"] + tile + [
            f"    y = {OPS[act].format(a='z', ct=ct)}",
            f"    tl.store(y_ptr + offs, y.to({out}), mask=m)",
        ]
    else:
        args = ["dy_ptr", "x_ptr", "b_ptr", "dx_ptr"] + (["db_ptr"] if bias_grad else []) + ["M", "N"]
        body = head + ([f"    acc = tl.zeros([BLOCK_M, BLOCK_N], {ct})"] if bias_grad else []) + [
            "    for r0 in range(tl.program_id(0).to(tl.int64) * BLOCK_M, M, tl.num_programs(0) * BLOCK_M):",
        ] + ["    " + line for line in tile + [
            f"    dy = tl.load(dy_ptr + offs, mask=m, other=0).to({ct})",
            f"    dz = {OPS[act + '_backward'].format(a='dy', b='z', ct=ct)}",
            f"    tl.store(dx_ptr + offs, dz.to({out}), mask=m)",
        ]]
        if bias_grad:  # summed over the rows once, after the loop: per step it would cross warps each time
            body += ["        acc += tl.where(m, dz, 0.0)",
                     "    tl.store(db_ptr + tl.program_id(0).to(tl.int64) * N + cols, tl.sum(acc, axis=0), mask=cm)"]
    name = "bact_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    part = "*" + ("fp64" if dtype == "float64" else "fp32")
    types = {"x_ptr": "*" + SIGNATURE_TYPES[dtype], "b_ptr": "*" + SIGNATURE_TYPES[dtype],
             "y_ptr": "*" + SIGNATURE_TYPES[dtype], "dy_ptr": "*" + SIGNATURE_TYPES[dtype],
             "dx_ptr": "*" + SIGNATURE_TYPES[dtype], "db_ptr": part, "M": "i64", "N": "i64"}
    signature = {a: types[a] for a in args}
    signature.update(BLOCK_M="constexpr", BLOCK_N="constexpr")
    src = ("import triton\nimport triton.language as tl\nfrom triton.language.extra import libdevice\n\n"
           + ACTIVATION_GRADS + "\n\n@triton.jit\n"
           + f"def {name}({', '.join(args)}, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):\n"
           + "\n".join(body) + "\n")
    return src, name, signature, {"BLOCK_M": block_m, "BLOCK_N": block_n}


def aligned_args(key):
    """What the native launcher checks before it asks for `key` + kernels.compile.ALIGNED: every pointer
    16-byte aligned and N a multiple of 16 (every row then starts aligned)."""
    direction, _, _, bias_grad, _, _ = parse_key(key)
    if direction == "fwd":
        return ["x_ptr", "b_ptr", "y_ptr", "N"]
    return ["dy_ptr", "x_ptr", "b_ptr", "dx_ptr"] + (["db_ptr"] if bias_grad else []) + ["N"]


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
