"""Elementwise Triton kernels, generated from the key the native core asks for (csrc/cuda/elementwise.h):

    ew|<op>|<input dtypes,>|<output dtype>|<layout>|<number of float params>

layout: "c" + a letter per input (flat: every dense operand read at `offs`; 'v' a host value, 's' one element
in device memory), or "g<nd>" / "f<nd>" + 't'/'v' per input (strided: sizes and element strides passed,
innermost dim first; "f" while every index is below 2^31 passes each size as int_divider's (size, magic, shift)
and splits indices in 32 bits, "g" divides in 64 bits).

One table, OPS, gives each op's expression over its inputs a, b, c and params p0.. in the compute type
(float32 for half types, as on CPU). A flat key may end in kernels.compile.ALIGNED: same source, compiled
knowing the arguments of aligned_args are multiples of 16 (16-byte accesses). The generated source is written
to a file (Triton reads kernels' source) and compiled for the GPU (kernels/compile.py) or run by Triton's
interpreter on CPU tensors in CI.
"""
import hashlib
import os

BLOCK = 1024  # elements per program: must equal kBlock in csrc/cuda/elementwise.cpp
NUM_WARPS = 4

TRITON_TYPES = {"float32": "tl.float32", "float64": "tl.float64", "float16": "tl.float16",
                "bfloat16": "tl.bfloat16", "int8": "tl.int8", "uint8": "tl.uint8", "int16": "tl.int16",
                "int32": "tl.int32", "int64": "tl.int64", "bool": "tl.int1"}
SIGNATURE_TYPES = {"float32": "fp32", "float64": "fp64", "float16": "fp16", "bfloat16": "bf16", "int8": "i8",
                   "uint8": "u8", "int16": "i16", "int32": "i32", "int64": "i64", "bool": "i1"}
FLOATS = ("float16", "bfloat16", "float32", "float64")

_LD = "libdevice"
# op -> expression. {a} {b} {c}: inputs in the compute type; {p0}..: float params; {ct}: the compute type.
OPS = {
    # copies and fills
    "copy": "{a}", "fill": "{p0}",
    # unary float math
    "exp": "tl.exp({a})", "exp2": "tl.exp2({a})", "expm1": f"{_LD}.expm1({{a}})", "log": "tl.log({a})",
    "log2": "tl.log2({a})", "log10": f"{_LD}.log10({{a}})", "log1p": f"{_LD}.log1p({{a}})",
    "sqrt": "tl.sqrt({a})", "rsqrt": "1.0 / tl.sqrt({a})", "sin": "tl.sin({a})", "cos": "tl.cos({a})",
    "tan": f"{_LD}.tan({{a}})", "asin": f"{_LD}.asin({{a}})", "acos": f"{_LD}.acos({{a}})",
    "atan": f"{_LD}.atan({{a}})", "sinh": f"{_LD}.sinh({{a}})", "cosh": f"{_LD}.cosh({{a}})",
    "tanh": f"{_LD}.tanh({{a}})", "asinh": f"{_LD}.asinh({{a}})", "acosh": f"{_LD}.acosh({{a}})",
    "atanh": f"{_LD}.atanh({{a}})", "erf": "tl.erf({a})", "erfc": f"{_LD}.erfc({{a}})",
    "erfinv": f"{_LD}.erfinv({{a}})", "lgamma": f"{_LD}.lgamma({{a}})",
    "sigmoid": "1.0 / (1.0 + tl.exp(-{a}))", "reciprocal": "1.0 / {a}", "silu": "{a} / (1.0 + tl.exp(-{a}))",
    "mish": "{a} * " + f"{_LD}.tanh(tl.where({{a}} > 20.0, {{a}}, {_LD}.log1p(tl.exp({{a}}))))",
    "gelu": "0.5 * {a} * (1.0 + tl.erf({a} * 0.7071067811865476))",
    "gelu_tanh": f"0.5 * {{a}} * (1.0 + {_LD}.tanh(0.7978845608028654 * ({{a}} + 0.044715 * {{a}} * {{a}} * {{a}})))",
    # activation gradients: {a} the output's gradient, {b} the activation's input (bias_act.py reuses them)
    "gelu_backward": "{a} * (0.5 * (1.0 + tl.erf({b} * 0.7071067811865476)) "
                     "+ {b} * 0.3989422804014327 * tl.exp(-0.5 * {b} * {b}))",
    "gelu_tanh_backward": f"{{a}} * _gelu_tanh_grad({{b}})",
    "silu_backward": "{a} * _silu_grad({b})",
    "softplus": f"tl.where({{a}} * {{p0}} > {{p1}}, {{a}}, {_LD}.log1p(tl.exp({{a}} * {{p0}})) / {{p0}})",
    "elu": f"tl.where({{a}} > 0, {{a}}, {{p0}} * {_LD}.expm1({{a}}))",
    "leaky_relu": "tl.where({a} > 0, {a}, {p0} * {a})",
    "hardtanh": "tl.minimum(tl.maximum({a}, {p0}), {p1})",
    # unary numeric (ints keep their type)
    "neg": "-{a}", "abs": "tl.abs({a})", "square": "{a} * {a}", "relu": "tl.where({a} < 0, 0, {a})",
    "sign": "tl.where({a} > 0, 1, tl.where({a} < 0, -1, {a} * 0)).to({ct})",
    "floor": "tl.floor({a})", "ceil": "tl.ceil({a})", "trunc": f"{_LD}.trunc({{a}})",
    "frac": f"{{a}} - {_LD}.trunc({{a}})", "round": f"{_LD}.nearbyint({{a}})",
    "round_decimals": f"{_LD}.nearbyint({{a}} * {{p0}}) / {{p0}}",
    "round_decimals_neg": f"{_LD}.nearbyint({{a}} / {{p0}}) * {{p0}}",
    "nan_to_num": "tl.where({a} != {a}, {p0}, tl.where({a} == float('inf'), {p1}, "
                  "tl.where({a} == -float('inf'), {p2}, {a})))",
    "digamma": "_digamma({a})",
    # predicates (output bool)
    "isnan": "{a} != {a}", "isinf": "tl.abs({a}) == float('inf')",
    "isfinite": "({a} == {a}) & (tl.abs({a}) != float('inf'))",
    "signbit": "{a}.to({ibits}, bitcast=True) < 0",  # the sign bit itself: -0.0 and -nan count
    "logical_not": "{a} == 0",
    "bitwise_not": "~{a}",
    # binary arithmetic
    "add": "{a} + {p0} * {b}", "add1": "{a} + {b}", "bool_add": "({a} != 0) | (({b} != 0) & ({p0} != 0))", "sub": "{a} - {p0} * {b}", "mul": "{a} * {b}",
    "div": "{a} / {b}", "div_trunc": f"{_LD}.trunc({{a}} / {{b}})", "div_floor": "tl.floor({a} / {b})",
    "idiv_trunc": "{a} // {b}",
    "idiv_floor": "{a} // {b} - (((({a} % {b}) != 0) & (({a} < 0) != ({b} < 0))).to({ct}))",
    "remainder": f"tl.where(({_LD}.fmod({{a}}, {{b}}) != 0) & (({_LD}.fmod({{a}}, {{b}}) < 0) != ({{b}} < 0)), "
                 f"{_LD}.fmod({{a}}, {{b}}) + {{b}}, {_LD}.fmod({{a}}, {{b}}))",
    "iremainder": "{a} % {b} + tl.where((({a} % {b}) != 0) & (({a} % {b} < 0) != ({b} < 0)), {b}, 0)",
    "fmod": f"{_LD}.fmod({{a}}, {{b}})", "ifmod": "{a} % {b}",
    "pow": f"{_LD}.pow({{a}}, {{b}})", "atan2": f"{_LD}.atan2({{a}}, {{b}})",
    "maximum": "tl.where({a} != {a}, {a}, tl.where({b} != {b}, {b}, tl.maximum({a}, {b})))",
    "minimum": "tl.where({a} != {a}, {a}, tl.where({b} != {b}, {b}, tl.minimum({a}, {b})))",
    "fmax": "tl.where({a} != {a}, {b}, tl.where({b} != {b}, {a}, tl.maximum({a}, {b})))",
    "fmin": "tl.where({a} != {a}, {b}, tl.where({b} != {b}, {a}, tl.minimum({a}, {b})))",
    "hypot": f"{_LD}.hypot({{a}}, {{b}})", "copysign": f"{_LD}.copysign({{a}}, {{b}})",
    "logaddexp": "tl.maximum({a}, {b}) + " + f"{_LD}.log1p(tl.exp(-tl.abs({{a}} - {{b}})))",
    "xlogy": "tl.where({a} == 0, 0.0, {a} * tl.log({b}))",
    # comparisons and logic (output bool, or the caller's dtype in place)
    "eq": "{a} == {b}", "ne": "{a} != {b}", "lt": "{a} < {b}", "le": "{a} <= {b}", "gt": "{a} > {b}",
    "ge": "{a} >= {b}", "logical_and": "({a} != 0) & ({b} != 0)", "logical_or": "({a} != 0) | ({b} != 0)",
    "logical_xor": "({a} != 0) ^ ({b} != 0)", "bitwise_and": "{a} & {b}", "bitwise_or": "{a} | {b}",
    "bitwise_xor": "{a} ^ {b}", "lshift": "{a} << {b}", "rshift": "{a} >> {b}",
    # ternary
    "where": "tl.where({a} != 0, {b}, {c})", "masked_fill": "tl.where({b} != 0, {p0}, {a})",
    "clamp": "tl.minimum(tl.maximum({a}, {b}), {c})", "clamp_min": "tl.maximum({a}, {b})",
    "clamp_max": "tl.minimum({a}, {b})",
    "lerp": "tl.where(tl.abs({c}) < 0.5, {a} + {c} * ({b} - {a}), {b} - ({b} - {a}) * (1.0 - {c}))",
    "addcmul": "{a} + {p0} * {b} * {c}", "addcdiv": "{a} + {p0} * ({b} / {c})",
    # native_dropout_backward: the gradient times the bool mask (read as 0 / 1) times the scale
    "masked_scale": "{a} * {b} * {p0}",
}
# Integer and bool compute types: rounding is the identity and nothing is infinite, NaN or negative zero.
INTEGER_FORMS = {"floor": "{a}", "ceil": "{a}", "trunc": "{a}", "round": "{a}", "isnan": "{a} != {a}",
                 "isinf": "{a} != {a}", "isfinite": "{a} == {a}", "signbit": "{a} < 0"}
# Helper @triton.jit functions an expression calls, emitted into the kernel's module.
PRELUDES = {
    # psi(x): reflection below 0.5, recurrence up to 6, then the asymptotic series (error < 1e-7 there).
    # Constants stay literals: a float literal bound to a name would become a float32 value.
    "digamma": """
@triton.jit
def _digamma(x):
    refl = x < 0.5
    y = tl.where(refl, 1.0 - x, x)
    acc = y * 0.0
    for _ in tl.static_range(6):
        small = y < 6.0
        acc = acc - tl.where(small, 1.0 / y, 0.0)
        y = tl.where(small, y + 1.0, y)
    z = 1.0 / (y * y)
    series = z * (0.08333333333333333 - z * (0.008333333333333333 - z * (0.003968253968253968
             - z * (0.004166666666666667 - z * 0.007575757575757576))))
    r = acc + tl.log(y) - 0.5 / y - series
    r = tl.where(refl, r - 3.141592653589793 / libdevice.tan(3.141592653589793 * x), r)
    pole = (x <= 0.0) & (x == tl.floor(x))
    return tl.where(pole, tl.where(x == 0.0, -float('inf'), float('nan')), r)
""",
}
# d/dx of the tanh GELU and of SiLU, shared by gelu_tanh_backward / silu_backward here and the fused
# bias-activation kernels (bias_act.py).
ACTIVATION_GRADS = """
@triton.jit
def _gelu_tanh_grad(x):
    t = libdevice.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x * x)


@triton.jit
def _silu_grad(x):
    s = 1.0 / (1.0 + tl.exp(-x))
    return s * (1.0 + x * (1.0 - s))
"""
PRELUDES["gelu_tanh_backward"] = PRELUDES["silu_backward"] = ACTIVATION_GRADS
# Ops whose inputs are not converted to a common compute type (where's condition stays bool).
RAW_INPUTS = {"where", "masked_fill", "copy"}


def parse_key(key):
    kind, op, ins, out, layout, nparams = key.split("|")
    if kind != "ew":
        raise ValueError(f"not an elementwise kernel key: {key!r}")
    if op not in OPS:
        raise KeyError(f"no Triton expression for elementwise op '{op}' (key {key!r})")
    return op, [d for d in ins.split(",") if d], out, layout, int(nparams)


def compute_type(ins, out):
    dtypes = ins + [out]
    if "float64" in dtypes:
        return "float64"
    if any(d in FLOATS for d in dtypes):
        return "float32"
    for d in ("int64", "int32", "int16", "int8", "uint8"):  # a fill has no inputs: its output decides
        if d in ins or (not ins and d == out):
            return d
    return "bool"


def generate(key):
    """(source code, function name, signature dict, constexpr dict) of the kernel for `key`."""
    op, ins, out, layout, nparams = parse_key(key)
    ct = compute_type(ins, out)
    tct = TRITON_TYPES[ct]
    n = len(ins)
    letters = "abc"[:n]
    name = "ew_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    args = ["out_ptr"] + [f"in{i}_ptr" for i in range(n)] + ["n"] + [f"p{i}" for i in range(nparams)]
    kinds = layout[1:] if layout.startswith("c") else layout[1 + len(layout[1:].rstrip("tv")):]
    by_value = [k == "v" for k in kinds]
    signature = {"out_ptr": "*" + SIGNATURE_TYPES[out]}
    for i, d in enumerate(ins):  # host scalars arrive by value: fp64 for floats, i64 otherwise
        signature[f"in{i}_ptr"] = ("fp64" if d in FLOATS else "i64") if by_value[i] else "*" + SIGNATURE_TYPES[d]
    signature["n"] = "i64"
    for i in range(nparams):
        signature[f"p{i}"] = "fp64"
    body = ["    pid = tl.program_id(0).to(tl.int64)",
            "    offs = pid * BLOCK + tl.arange(0, BLOCK)",
            "    mask = offs < n"]
    if layout[0] in "gf":
        nd = int(layout[1:len(layout) - len(kinds)])
        fast = layout[0] == "f"  # each dim as (size, magic, shift) of int_divider: 32-bit coordinates
        dims = [f"{v}{k}" for k in range(nd) for v in ("dms" if fast else "d")]
        strided = [0] + [i + 1 for i in range(n) if not by_value[i]]  # operands with strides (output first)
        strides = {i: [f"s{i}_{k}" for k in range(nd)] for i in strided}
        args += dims + [s for i in strided for s in strides[i]]
        for v in dims:
            signature[v] = "u32" if fast else "i64"
        for v in [s for i in strided for s in strides[i]]:
            signature[v] = "i64"
        body.append("    rem = offs.to(tl.uint32)" if fast else "    rem = offs")
        offsets = {i: "0" for i in strided}
        for k in range(nd):  # dim 0 is the innermost in the iterator's order
            if fast:
                body.append(f"    q = (tl.umulhi(rem, m{k}) + rem) >> s{k}")
                body.append(f"    c{k} = (rem - q * d{k}).to(tl.int64)")
                body.append("    rem = q")
            else:
                body.append(f"    c{k} = rem % d{k}")
                body.append(f"    rem = rem // d{k}")
            for i in strided:
                offsets[i] += f" + c{k} * {strides[i][k]}"
        out_off = offsets[0]
        in_offs = [offsets.get(i + 1) for i in range(n)]
    else:
        out_off = "offs"
        in_offs = ["offs" if kinds[i] == "c" else None for i in range(n)]
    loads = {}
    for i in range(n):
        raw = op in RAW_INPUTS
        cast = f".to({TRITON_TYPES[ins[i]]})" if raw else f".to({tct})"
        if by_value[i]:
            body.append(f"    {letters[i]} = in{i}_ptr{cast}")
        else:
            src = f"in{i}_ptr + ({in_offs[i]})" if in_offs[i] else f"in{i}_ptr"
            extra = ", mask=mask" if in_offs[i] else ""
            body.append(f"    {letters[i]} = tl.load({src}{extra}){'' if raw else cast}")
        loads[letters[i]] = letters[i]
    params = {f"p{i}": f"p{i}.to({tct})" for i in range(nparams)}
    form = INTEGER_FORMS.get(op) if ct not in FLOATS else None
    ibits = {"float32": "tl.int32", "float64": "tl.int64"}.get(ct, tct)
    expr = (form or OPS[op]).format(ct=tct, ibits=ibits, **loads, **params)
    body.append(f"    r = ({expr})")
    body.append(f"    tl.store(out_ptr + ({out_off}), r.to({TRITON_TYPES[out]}), mask=mask)")
    src = ("import triton\nimport triton.language as tl\nfrom triton.language.extra import libdevice\n\n\n"
           + PRELUDES.get(op, "") + "\n\n"
           "@triton.jit\n"
           f"def {name}({', '.join(args)}, BLOCK: tl.constexpr):\n" + "\n".join(body) + "\n")
    signature["BLOCK"] = "constexpr"
    return src, name, signature, {"BLOCK": BLOCK}


def int_divider(d):
    """(magic, shift) with n // d == (umulhi(n, magic) + n) >> shift for 0 <= n < 2^31 (csrc/core/int_divider.h,
    which the native launcher uses; this one serves the interpreter runs)."""
    if not 1 <= d < 1 << 31:
        raise ValueError(f"int_divider: divisor {d} out of [1, 2^31)")
    shift = (d - 1).bit_length()
    return ((1 << 32) * ((1 << shift) - d)) // d + 1, shift


def aligned_args(key):
    """What the native launcher checks before it asks for `key` + kernels.compile.ALIGNED (flat layouts only):
    the output and every dense input 16-byte aligned, the element count a multiple of 16."""
    _, ins, _, layout, _ = parse_key(key)
    if not layout.startswith("c"):
        raise KeyError(f"elementwise key {key!r}: only flat layouts have an aligned form")
    return ["out_ptr"] + [f"in{i}_ptr" for i, k in enumerate(layout[1:]) if k == "c"] + ["n"]


def load(key, cache_dir, module_suffix=""):
    """The @triton.jit function for `key`, from a source file in cache_dir (Triton needs real source).
    A module_suffix gives a separate module instance (the interpreter swaps globals in its own copy)."""
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs


def _write_and_import(src, name, cache_dir, module_suffix):
    """Writes generated source to cache_dir/<name>.py (atomically) and returns its function `name`."""
    import importlib.util
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"{name}.py")
    if not os.path.exists(path) or open(path).read() != src:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(src)
        os.replace(tmp, path)
    import sys
    modname = f"vibetensor_kernels_{name}{module_suffix}"
    mod = sys.modules.get(modname)
    if mod is None:
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
    return getattr(mod, name)
