"""Multi-tensor optimizer kernels: one launch updates every parameter of a (device, dtype) group.

The kernels (optim_kernels.py, imported when one is compiled: Triton is optional here) read device tables of
int64 addresses, one entry per tensor, and a tile plan (`tile_plan`): program p updates BLOCK elements of
tensor tile_tensor[p], starting (p - first_tile[t]) * BLOCK into it. optim_launch.py builds the tables.

Keys (dtypes by name; flags are letters, "-" for none; BLOCK a power of two):
    optadam|<param dtype>|<state dtype>|<flags>|<block>   flags: l (L2 weight decay), w (decoupled, AdamW),
                                                          a (amsgrad), m (maximize), c (step read on device)
    optsgd|<param dtype>|<flags>|<block>                  flags: d (weight decay), u (momentum), f (first step:
                                                          new buffers), n (nesterov), m (maximize)
    optstep|<block>                                       add one to each step tensor of a table
    optnorm|<grad dtype>|<ord>|<block>                    per-tile partial norms, ord in 0 (inf), 1, 2
    optnormfin|<ord>|<block>                              total norm and clip scale from the partials
    optscale|<grad dtype>|<block>                         multiply by a scale read from device memory
    optwrite|8                                            write 8 int64 table entries passed by value
"""
from . import kernels_module

KEY_PREFIXES = ("optadam", "optsgd", "optstep", "optnorm", "optnormfin", "optscale", "optwrite")
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}
BLOCK = 4096        # elements per program of the per-element kernels
FINISH_BLOCK = 1024  # lanes of the one-program kernels (step increment, norm finish)
NUM_WARPS = 8
WRITE_ENTRIES = 8    # table entries per optwrite launch (its arguments)
ADAM_FLAGS = {"l": "L2", "w": "DECOUPLED", "a": "AMSGRAD", "m": "MAXIMIZE", "c": "DEVICE_STEP"}
SGD_FLAGS = {"d": "WEIGHT_DECAY", "u": "MOMENTUM", "f": "FIRST", "n": "NESTEROV", "m": "MAXIMIZE"}
NORM_ORDS = {0: "inf", 1: "1", 2: "2"}

_TILED = {"numels": "*i64", "first_tile": "*i32", "tile_tensor": "*i32"}


def tile_plan(numels, block=BLOCK):
    """(first_tile per tensor, tile_tensor per program): the block -> tensor map of one launch. Empty tensors
    get no tiles."""
    first, owner = [], []
    for i, n in enumerate(numels):
        first.append(len(owner))
        owner.extend([i] * (-(-int(n) // block)))
    return first, owner


def flags(letters, table):
    """Constexpr flags of a key's letter string (unknown letters are refused: a typo must not compile)."""
    letters = "" if letters == "-" else letters
    bad = set(letters) - set(table)
    if bad:
        raise ValueError(f"unknown optimizer kernel flags {sorted(bad)} (known: {sorted(table)})")
    return {name: letter in letters for letter, name in table.items()}


def _dtype_code(name):
    if name not in DTYPE_CODES:
        raise ValueError(f"optimizer kernels take float32, float16 or bfloat16 tensors, got {name}")
    return DTYPE_CODES[name]


def load(key, cache_dir=None, module_suffix=""):
    """(jit function, signature, constexprs) for an opt...| key."""
    k = kernels_module("optim_kernels", module_suffix)
    parts = key.split("|")
    kind = parts[0]
    block = int(parts[-1])
    if block & (block - 1):
        raise ValueError(f"optimizer kernel blocks are powers of two, got {block}")
    if kind == "optadam" and len(parts) == 5:
        cx = {"PCODE": _dtype_code(parts[1]), "SCODE": _dtype_code(parts[2]), **flags(parts[3], ADAM_FLAGS)}
        if cx["L2"] and cx["DECOUPLED"]:
            raise ValueError("optadam: weight decay is either L2 (l) or decoupled (w), not both")
        sig = {n: "*i64" for n in ("params", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs", "steps")}
        sig.update(_TILED)
        sig.update({n: "fp32" for n in ("lr", "beta1", "beta2", "eps", "weight_decay", "bias_correction1",
                                        "bias_correction2_sqrt", "new_step")})
        fn = k.adam
    elif kind == "optsgd" and len(parts) == 4:
        cx = {"PCODE": _dtype_code(parts[1]), **flags(parts[2], SGD_FLAGS)}
        sig = {"params": "*i64", "grads": "*i64", "momentum_buffers": "*i64", **_TILED}
        sig.update({n: "fp32" for n in ("lr", "momentum", "dampening", "weight_decay")})
        fn = k.sgd
    elif kind == "optstep" and len(parts) == 2:
        cx, sig, fn = {}, {"steps": "*i64", "n": "i32"}, k.step_increment
    elif kind == "optnorm" and len(parts) == 4:
        cx = {"GCODE": _dtype_code(parts[1]), "ORD": _norm_ord(parts[2])}
        sig, fn = {"grads": "*i64", **_TILED, "partials": "*fp32"}, k.norm_partials
    elif kind == "optnormfin" and len(parts) == 3:
        cx = {"ORD": _norm_ord(parts[1])}
        sig = {"partials": "*fp32", "n": "i32", "total": "*fp32", "scale": "*fp32", "max_norm": "fp32"}
        fn = k.norm_finish
    elif kind == "optscale" and len(parts) == 3:
        cx = {"GCODE": _dtype_code(parts[1])}
        sig, fn = {"grads": "*i64", **_TILED, "scale": "*fp32"}, k.scale_by
    elif kind == "optwrite" and block == WRITE_ENTRIES:
        cx, fn = {}, k.write_entries
        sig = {"table": "*i64", "start": "i32", "count": "i32", **{f"a{i}": "i64" for i in range(WRITE_ENTRIES)}}
        return fn, sig, cx
    else:
        raise ValueError(f"not an optimizer kernel key: {key!r}")
    cx["BLOCK"] = block
    sig.update({n: "constexpr" for n in cx})
    return fn, sig, cx


def _norm_ord(text):
    for o, name in NORM_ORDS.items():
        if text == name:
            return o
    raise ValueError(f"fused gradient norms are of order 1, 2 or inf, got {text!r}")


def num_warps(key):
    return 1 if key.startswith(("optstep", "optnormfin", "optwrite")) else NUM_WARPS
