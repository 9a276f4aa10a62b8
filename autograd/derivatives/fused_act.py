"""Derivatives of the activation gradients, the fused bias-activations, rotary embedding and embedding's
backward (vt.nn.fused_act). The first-order rows call one op each (one CUDA kernel); the rows of the
backward ops themselves (double backward) are written with core ops."""
import math

from ... import _C
from . import derivative

ops = _C._ops
_K = math.sqrt(2 / math.pi)


def _grad_op(act, g, z):
    return ops.silu_backward(g, z) if act == "silu" else \
        ops.gelu_backward(g, z, approximate="tanh" if act == "gelu_tanh" else "none")


def second_derivative(act, z):
    """act''(z) of gelu, gelu_tanh or silu."""
    if act == "silu":
        s = z.sigmoid()
        return s * (1 - s) * (2 + z * (1 - 2 * s))
    if act == "gelu_tanh":
        u1 = _K * (1 + 3 * 0.044715 * z * z)
        t = (_K * (z + 0.044715 * z * z * z)).tanh()
        sech2 = 1 - t * t
        return sech2 * u1 + 0.5 * z * sech2 * (6 * _K * 0.044715 * z - 2 * t * u1 * u1)
    pdf = (-0.5 * z * z).exp() * (1 / math.sqrt(2 * math.pi))
    return pdf * (2 - z * z)


def _act_name(op_approximate):
    return "gelu_tanh" if op_approximate == "tanh" else "gelu"


@derivative("gelu_backward", save=("grad_output", "self"))
def _gelu_backward(ctx, gg):
    act = _act_name(ctx.approximate)
    return {"grad_output": _grad_op(act, gg, ctx.self), "self": gg * ctx.grad_output * second_derivative(act, ctx.self)}


@derivative("silu_backward", save=("grad_output", "self"))
def _silu_backward(ctx, gg):
    return {"grad_output": ops.silu_backward(gg, ctx.self),
            "self": gg * ctx.grad_output * second_derivative("silu", ctx.self)}


@derivative("_bias_act", save=("input", "bias"))
def _bias_act(ctx, g):
    dx, db = ops._bias_act_backward(g, ctx.input, ctx.bias, ctx.activation, ctx.needs("bias"))
    return {"input": dx, "bias": db if ctx.needs("bias") else None}


@derivative("_bias_act_backward", save=("grad_out", "input", "bias"))
def _bias_act_backward(ctx, g_dx, g_db=None):
    # grad_input = grad_out * act'(z) and grad_bias = its row sum: both carry c = g_dx + g_db (broadcast)
    c = g_dx
    if g_db is not None and ctx.bias_grad:
        c = g_db if c is None else c + g_db
    if c is None:
        return {}
    z = ctx.input + ctx.bias
    dz = c * ctx.grad_out * second_derivative(ctx.activation, z)
    return {"grad_out": _grad_op(ctx.activation, c, z), "input": dz, "bias": dz}


@derivative("_rotary_emb", save=("cos", "sin"))
def _rotary_emb(ctx, g):
    if ctx.needs("cos") or ctx.needs("sin"):
        raise RuntimeError("rotary_emb: the fused op does not differentiate cos and sin; "
                           "vt.nn.functional.apply_rotary_emb takes the differentiable path for such tables")
    return {"input": ops._rotary_emb(g, ctx.cos, ctx.sin, ctx.seq_dim, ctx.interleaved, not ctx.inverse)}


@derivative("embedding_dense_backward", save=("indices",))
def _embedding_dense_backward(ctx, g):
    rows = ops.embedding(g, ctx.indices, -1)  # the gradient's rows read back at each index
    if ctx.padding_idx >= 0:
        rows = rows * (ctx.indices != ctx.padding_idx).unsqueeze(-1)
    return {"grad_output": rows}
