"""Derivatives of the elementwise ops (unary, binary, ternary). Broadcasting is undone by the table."""
import math

from ... import _C
from . import derivative

ops = _C._ops


def _zero(g):
    return ops.zeros(g.shape, dtype=g.dtype, device=g.device)


# ---- unary ---------------------------------------------------------------------------------------------
@derivative("abs", save=("self",))
def _abs(ctx, g):
    return {"self": g * ctx.self.sign()}


@derivative("neg")
def _neg(ctx, g):
    return {"self": -g}


@derivative("sign", "floor", "ceil", "trunc", "round")
def _piecewise_constant(ctx, g):
    return {"self": _zero(g)}


@derivative("frac")
def _frac(ctx, g):
    return {"self": g}


@derivative("square", save=("self",))
def _square(ctx, g):
    return {"self": 2 * g * ctx.self}


@derivative("relu", result=True)
def _relu(ctx, g):
    return {"self": g * (ctx.result > 0)}


@derivative("sqrt", result=True)
def _sqrt(ctx, g):
    return {"self": g / (2 * ctx.result)}


@derivative("rsqrt", result=True)
def _rsqrt(ctx, g):
    r = ctx.result
    return {"self": -0.5 * g * r * r * r}


@derivative("exp", result=True)
def _exp(ctx, g):
    return {"self": g * ctx.result}


@derivative("exp2", result=True)
def _exp2(ctx, g):
    return {"self": g * ctx.result * math.log(2.0)}


@derivative("expm1", result=True)
def _expm1(ctx, g):
    return {"self": g * (ctx.result + 1)}


@derivative("log", save=("self",))
def _log(ctx, g):
    return {"self": g / ctx.self}


@derivative("log2", save=("self",))
def _log2(ctx, g):
    return {"self": g / (ctx.self * math.log(2.0))}


@derivative("log10", save=("self",))
def _log10(ctx, g):
    return {"self": g / (ctx.self * math.log(10.0))}


@derivative("log1p", save=("self",))
def _log1p(ctx, g):
    return {"self": g / (ctx.self + 1)}


@derivative("sin", save=("self",))
def _sin(ctx, g):
    return {"self": g * ctx.self.cos()}


@derivative("cos", save=("self",))
def _cos(ctx, g):
    return {"self": -g * ctx.self.sin()}


@derivative("tan", result=True)
def _tan(ctx, g):
    r = ctx.result
    return {"self": g * (1 + r * r)}


@derivative("asin", save=("self",))
def _asin(ctx, g):
    x = ctx.self
    return {"self": g * (1 - x * x).rsqrt()}


@derivative("acos", save=("self",))
def _acos(ctx, g):
    x = ctx.self
    return {"self": -g * (1 - x * x).rsqrt()}


@derivative("atan", save=("self",))
def _atan(ctx, g):
    x = ctx.self
    return {"self": g / (1 + x * x)}


@derivative("sinh", save=("self",))
def _sinh(ctx, g):
    return {"self": g * ctx.self.cosh()}


@derivative("cosh", save=("self",))
def _cosh(ctx, g):
    return {"self": g * ctx.self.sinh()}


@derivative("tanh", result=True)
def _tanh(ctx, g):
    r = ctx.result
    return {"self": g * (1 - r * r)}


@derivative("asinh", save=("self",))
def _asinh(ctx, g):
    x = ctx.self
    return {"self": g * (x * x + 1).rsqrt()}


@derivative("acosh", save=("self",))
def _acosh(ctx, g):
    x = ctx.self
    return {"self": g * (x * x - 1).rsqrt()}


@derivative("atanh", save=("self",))
def _atanh(ctx, g):
    x = ctx.self
    return {"self": g / (1 - x * x)}


@derivative("erf", save=("self",))
def _erf(ctx, g):
    x = ctx.self
    return {"self": g * (2 / math.sqrt(math.pi)) * (-x * x).exp()}


@derivative("erfc", save=("self",))
def _erfc(ctx, g):
    x = ctx.self
    return {"self": -g * (2 / math.sqrt(math.pi)) * (-x * x).exp()}


@derivative("erfinv", result=True)
def _erfinv(ctx, g):
    r = ctx.result
    return {"self": g * (math.sqrt(math.pi) / 2) * (r * r).exp()}


@derivative("lgamma", save=("self",))
def _lgamma(ctx, g):
    return {"self": g * ctx.self.digamma()}


@derivative("digamma", save=("self",))
def _digamma(ctx, g):
    return {"self": g * trigamma(ctx.self)}


def trigamma(x):
    """psi'(x) for x > 0: recurrence up to 6, then the asymptotic series (relative error ~1e-10)."""
    acc = ops.zeros(x.shape, dtype=x.dtype, device=x.device)
    y = x
    for _ in range(6):
        small = y < 6
        acc = acc + ops.where(small, 1 / (y * y), 0.0)
        y = ops.where(small, y + 1, y)
    iy = 1 / y
    iy2 = iy * iy
    series = iy + iy2 / 2 + iy * iy2 * (1 / 6 - iy2 * (1 / 30 - iy2 * (1 / 42 - iy2 / 30)))
    return acc + series


@derivative("sigmoid", result=True)
def _sigmoid(ctx, g):
    r = ctx.result
    return {"self": g * r * (1 - r)}


@derivative("reciprocal", result=True)
def _reciprocal(ctx, g):
    r = ctx.result
    return {"self": -g * r * r}


@derivative("silu", save=("self",))
def _silu(ctx, g):
    return {"self": ops.silu_backward(g, ctx.self)}  # one kernel (its own row gives double backward)


@derivative("mish", save=("self",))
def _mish(ctx, g):
    x = ctx.self
    t = ops.softplus(x).tanh()
    return {"self": g * (t + x * x.sigmoid() * (1 - t * t))}


@derivative("gelu", save=("self",))
def _gelu(ctx, g):
    return {"self": ops.gelu_backward(g, ctx.self, approximate=ctx.approximate)}


@derivative("softplus", save=("self",))
def _softplus(ctx, g):
    x, beta, threshold = ctx.self, float(ctx.beta), float(ctx.threshold)
    z = (x * beta).exp()
    return {"self": ops.where(x * beta > threshold, g, g * z / (z + 1))}


@derivative("elu", save=("self",))
def _elu(ctx, g):
    x, a = ctx.self, float(ctx.alpha)
    return {"self": ops.where(x > 0, g, g * a * x.exp())}


@derivative("leaky_relu", save=("self",))
def _leaky_relu(ctx, g):
    x = ctx.self
    return {"self": ops.where(x > 0, g, g * float(ctx.negative_slope))}


@derivative("hardtanh", save=("self",))
def _hardtanh(ctx, g):
    x = ctx.self
    inside = (x > float(ctx.min_val)) & (x < float(ctx.max_val))
    return {"self": g * inside}


@derivative("nan_to_num", save=("self",))
def _nan_to_num(ctx, g):
    return {"self": g * ctx.self.isfinite()}


# ---- binary ---------------------------------------------------------------------------------------------
@derivative("add")
def _add(ctx, g):
    a = ctx.alpha
    return {"self": g, "other": g if a == 1 else g * a}


@derivative("sub")
def _sub(ctx, g):
    a = ctx.alpha
    return {"self": g, "other": -g if a == 1 else g * (-a)}


@derivative("rsub")
def _rsub(ctx, g):
    a = ctx.alpha
    return {"self": -g if a == 1 else g * (-a), "other": g}


@derivative("mul", save=("self", "other"))
def _mul(ctx, g):
    out = {}
    if ctx.needs("self"):
        out["self"] = g * ctx.other
    if ctx.needs("other"):
        out["other"] = g * ctx.self
    return out


@derivative("div", save=("self", "other"))
def _div(ctx, g):
    if ctx.rounding_mode is not None:
        return {"self": _zero(g), "other": _zero(g)}
    out = {}
    b = ctx.other
    if ctx.needs("self"):
        out["self"] = g / b
    if ctx.needs("other"):
        out["other"] = -g * ctx.self / (b * b)
    return out


@derivative("remainder", save=("self", "other"))
def _remainder(ctx, g):
    out = {"self": g}
    if ctx.needs("other"):
        out["other"] = -g * ops.div(ctx.self, ctx.other, rounding_mode="floor")
    return out


@derivative("fmod", save=("self", "other"))
def _fmod(ctx, g):
    out = {"self": g}
    if ctx.needs("other"):
        out["other"] = -g * ops.div(ctx.self, ctx.other, rounding_mode="trunc")
    return out


@derivative("pow", save=("self", "exponent"), result=True)
def _pow(ctx, g):
    out = {}
    x, e = ctx.self, ctx.exponent
    if ctx.needs("self"):
        # x ** (e - 1) * e, with the 0 ** 0 case (e == 0) giving 0, as PyTorch does
        out["self"] = ops.where(e == 0, 0.0, g * e * x ** (e - 1))
    if ctx.needs("exponent"):
        out["exponent"] = ops.where((x == 0) & (e >= 0), 0.0, g * ctx.result * x.log())
    return out


@derivative("atan2", save=("self", "other"))
def _atan2(ctx, g):
    y, x = ctx.self, ctx.other
    d = x * x + y * y
    return {"self": g * x / d, "other": -g * y / d}


def _select_grad(g, take_self, tie):
    """Splits g between two inputs: take_self where self wins, half each on ties (PyTorch's rule)."""
    return {"self": ops.where(tie, g / 2, ops.where(take_self, g, 0.0)),
            "other": ops.where(tie, g / 2, ops.where(take_self, 0.0, g))}


@derivative("maximum", "fmax", save=("self", "other"))
def _maximum(ctx, g):
    a, b = ctx.self, ctx.other
    return _select_grad(g, a > b, a == b)


@derivative("minimum", "fmin", save=("self", "other"))
def _minimum(ctx, g):
    a, b = ctx.self, ctx.other
    return _select_grad(g, a < b, a == b)


@derivative("hypot", save=("self", "other"), result=True)
def _hypot(ctx, g):
    r = ctx.result
    return {"self": g * ctx.self / r, "other": g * ctx.other / r}


@derivative("logaddexp", save=("self", "other"), result=True)
def _logaddexp(ctx, g):
    r = ctx.result
    return {"self": g * (ctx.self - r).exp(), "other": g * (ctx.other - r).exp()}


@derivative("copysign", save=("self",), result=True)
def _copysign(ctx, g):
    x = ctx.self
    return {"self": ops.where(x == 0, 0.0, g * ctx.result / x), "other": _zero(g)}


@derivative("xlogy", save=("self", "other"))
def _xlogy(ctx, g):
    x, y = ctx.self, ctx.other
    return {"self": ops.where((x == 0) & (y <= 0), 0.0, g * y.log()), "other": g * x / y}


# ---- ternary ---------------------------------------------------------------------------------------------
@derivative("where", save=("condition",))
def _where(ctx, g):
    c = ctx.condition
    return {"self": ops.where(c, g, 0.0), "other": ops.where(c, 0.0, g)}


@derivative("masked_fill", save=("mask",))
def _masked_fill(ctx, g):
    m = ctx.mask
    out = {"self": g.masked_fill(m, 0.0)}
    if ctx.needs("value"):
        out["value"] = ops.where(m, g, 0.0).sum()
    return out


@derivative("clamp", save=("self", "min", "max"))
def _clamp(ctx, g):
    x, lo, hi = ctx.self, ctx.min, ctx.max
    below = x < lo if lo is not None else None
    above = x > hi if hi is not None else None
    if below is not None and above is not None:  # min > max: the result is max (min(max(x, lo), hi))
        above = above | (lo > hi)
    clipped = below if above is None else above if below is None else below | above
    out = {"self": g.masked_fill(clipped, 0.0)}
    if lo is not None and ctx.needs("min"):
        out["min"] = ops.where(below if above is None else below & ~above, g, 0.0)
    if hi is not None and ctx.needs("max"):
        out["max"] = ops.where(above, g, 0.0)
    return out


@derivative("lerp", save=("self", "end", "weight"))
def _lerp(ctx, g):
    a, b, w = ctx.self, ctx.end, ctx.weight
    return {"self": g * (1 - w), "end": g * w, "weight": g * (b - a)}


@derivative("addcmul", save=("tensor1", "tensor2"))
def _addcmul(ctx, g):
    v = ctx.value
    return {"self": g, "tensor1": g * ctx.tensor2 * v, "tensor2": g * ctx.tensor1 * v}


@derivative("addcdiv", save=("tensor1", "tensor2"))
def _addcdiv(ctx, g):
    v, t1, t2 = ctx.value, ctx.tensor1, ctx.tensor2
    return {"self": g, "tensor1": g * v / t2, "tensor2": -g * v * t1 / (t2 * t2)}
