"""Cross-entropy from logits, Triton kernels generated from the key the native core asks for
(csrc/cuda/cross_entropy.cpp):

    xent|<fwd, bwd or mean>|<logits dtype>|<BLOCK>   (fwd and bwd may end in kernels.compile.ALIGNED)

  fwd:  one program per row of N logits, streamed through BLOCK-sized chunks once: the running max and the
        rescaled sum of exponentials (one exp per logit: each chunk's max is taken first), and the row sum
        for label smoothing. Writes the row's log-sum-exp and its loss (0 for ignored rows), in fp32.
  mean: one program: the loss, sum(row losses) / (rows not ignored), in the logits' dtype, and that count
        (fp32) for the backward.
  bwd:  one program per row, one pass: dlogits = (softmax - (1 - s) onehot - s / N) * grad / count from the
        saved log-sum-exp (zero for ignored rows); the probabilities are never stored.
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 8
MEAN_BLOCK = 1024  # rows the "mean" program folds per step


def parse_key(key):
    parts = key.split("|")
    if len(parts) != 4 or parts[0] != "xent" or parts[1] not in ("fwd", "bwd", "mean"):
        raise KeyError(f"not a cross-entropy kernel key: {key!r}")
    return parts[1], parts[2], int(parts[3])


def num_warps(key):
    """16 logits per thread for the row kernels (fewer warps for narrow rows), 4 warps for the mean."""
    op, _, block = parse_key(key)
    return 4 if op == "mean" else max(1, min(NUM_WARPS, block // 512))


_FWD = """
    row = tl.program_id(0).to(tl.int64)
    src = x_ptr + row * N
    smoothing = smoothing.to(tl.float32)  # the interpreter passes Python floats as fp64
    t = tl.load(t_ptr + row)
    valid = t != ignore_index
    run_max = tl.full([], -float('inf'), tl.float32)
    run_sum = tl.full([], 0.0, tl.float32)
    row_sum = tl.zeros([BLOCK], tl.float32)
    for c in range(0, N, BLOCK):
        offs = c + tl.arange(0, BLOCK)
        x = tl.load(src + offs, mask=offs < N, other=-float('inf')).to(tl.float32)
        new_max = tl.maximum(run_max, tl.max(x, axis=0))
        # an all -inf prefix has nothing to rescale (and -inf - -inf would be NaN)
        shift = tl.where(new_max == -float('inf'), 0.0, new_max)
        run_sum = run_sum * tl.exp(run_max - shift) + tl.sum(tl.exp(x - shift), axis=0)
        run_max = new_max
        row_sum += tl.where(offs < N, x, 0.0)
    lse = tl.log(run_sum) + tl.where(run_max == -float('inf'), 0.0, run_max)
    # a target outside [0, N) is recorded in the device's status word (an IndexError at the next sync,
    # csrc/cuda/error_flag.h) and never read; its loss is NaN until then
    in_range = (t >= 0) & (t < N)
    if valid & (in_range == 0):
        if tl.atomic_cas(err_ptr, tl.full([], 0, tl.int64), tl.full([], 1, tl.int64)) == 0:
            tl.store(err_ptr + 1, t)
            tl.store(err_ptr + 2, N)
            tl.store(err_ptr + 3, err_code)
    picked = tl.load(src + tl.where(valid & in_range, t, 0)).to(tl.float32)
    picked = tl.where(in_range, picked, float('nan'))
    loss = (1.0 - smoothing) * (lse - picked) + smoothing * (lse - tl.sum(row_sum, axis=0) / N)
    tl.store(lse_ptr + row, lse)
    tl.store(loss_ptr + row, tl.where(valid, loss, 0.0))
"""

_MEAN = """
    total = tl.zeros([BLOCK], tl.float32)
    count = tl.zeros([BLOCK], tl.float32)
    for r in range(0, M, BLOCK):
        offs = r + tl.arange(0, BLOCK)
        total += tl.load(loss_ptr + offs, mask=offs < M, other=0.0)
        t = tl.load(t_ptr + offs, mask=offs < M, other=ignore_index)
        count += tl.where(t != ignore_index, 1.0, 0.0)
    n = tl.sum(count, axis=0)
    tl.store(out_ptr, (tl.sum(total, axis=0) / n).to(OUT))
    tl.store(count_ptr, n)
"""

_BWD = """
    row = tl.program_id(0).to(tl.int64)
    smoothing = smoothing.to(tl.float32)  # the interpreter passes Python floats as fp64
    t = tl.load(t_ptr + row)
    lse = tl.load(lse_ptr + row)
    scale = tl.load(g_ptr).to(tl.float32) / tl.load(count_ptr)
    scale = tl.where(t != ignore_index, scale, 0.0)
    src = x_ptr + row * N
    dst = dx_ptr + row * N
    # int32 columns from a scalar chunk base (64-bit math once per chunk): 76 registers instead of 93 on
    # sm_90, three resident programs per SM instead of two. The forward is better off without (64 vs 77).
    cols = tl.arange(0, BLOCK)
    for c in range(0, N, BLOCK):
        keep = cols < N - c
        x = tl.load(src + c + cols, mask=keep, other=0.0).to(tl.float32)
        # t - c is within (-N, N): the target's column in this chunk, compared in int32
        d = tl.exp(x - lse) - tl.where(cols == (t - c).to(tl.int32), 1.0 - smoothing, 0.0) - smoothing / N
        tl.store(dst + c + cols, (d * scale).to(OUT), mask=keep)
"""

ARGS = {"fwd": ["x_ptr", "t_ptr", "loss_ptr", "lse_ptr", "N", "ignore_index", "smoothing", "err_ptr", "err_code"],
        "mean": ["loss_ptr", "t_ptr", "out_ptr", "count_ptr", "M", "ignore_index"],
        "bwd": ["x_ptr", "t_ptr", "lse_ptr", "g_ptr", "count_ptr", "dx_ptr", "N", "ignore_index", "smoothing"]}


def generate(key):
    op, dtype, block = parse_key(key)
    name = "xent_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    logits = "*" + SIGNATURE_TYPES[dtype]
    types = {"x_ptr": logits, "dx_ptr": logits, "out_ptr": logits, "g_ptr": logits, "t_ptr": "*i64",
             "loss_ptr": "*fp32", "lse_ptr": "*fp32", "count_ptr": "*fp32", "N": "i64", "M": "i64",
             "ignore_index": "i64", "smoothing": "fp32", "err_ptr": "*i64", "err_code": "i64"}
    args = ARGS[op]
    signature = {a: types[a] for a in args}
    signature["BLOCK"] = "constexpr"
    body = {"fwd": _FWD, "mean": _MEAN, "bwd": _BWD}[op].replace("OUT", TRITON_TYPES[dtype])
    src = "import triton\nimport triton.language as tl\n\n\n@triton.jit\n" + \
        f"def {name}({', '.join(args)}, BLOCK: tl.constexpr):" + body
    return src, name, signature, {"BLOCK": block}


def aligned_args(key):
    """What the native launcher checks before it asks for a fwd/bwd key + kernels.compile.ALIGNED: the logits
    (and dx) 16-byte aligned and N a multiple of 16 (every row then starts aligned)."""
    op, _, _ = parse_key(key)
    if op == "mean":
        raise KeyError(f"cross-entropy key {key!r}: the mean has no aligned form")
    return [a for a in ARGS[op] if a in ("x_ptr", "dx_ptr")] + ["N"]


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    fn = _write_and_import(src, name, cache_dir, module_suffix)
    return fn, signature, constexprs
