"""Fused bias + GELU / SiLU and rotary position embedding (nn.functional's bias_gelu, bias_silu,
apply_rotary_emb), and the Composite kernels of their ops and of embedding_dense_backward.

The ops (op_table.h: _bias_act, _rotary_emb, embedding_dense_backward and their backward ops) run one
native kernel each way on CUDA (csrc/cuda/fused_act.cpp, rotary.cpp, embedding_backward.cpp); the
Composite kernels below, made of core ops, serve every other device, so the ops and their derivative rows
(autograd/derivatives/fused_act.py) work, and are gradchecked, on CPU.
"""
from .. import _C
from ..autograd import is_grad_enabled
from ..tensor_core import library

ops = _C._ops
_GELU = {"none": "gelu", "tanh": "gelu_tanh"}


def _acc(t):
    return t.float() if t.dtype in (_C.float16, _C.bfloat16) else t


# ---- bias + activation -----------------------------------------------------------------------------------


def bias_gelu(input, bias, approximate="none"):
    """``gelu(input + bias, approximate)`` with ``bias`` over the last dim, as Megatron's / Apex's fused
    bias-GELU: on CUDA one kernel forward and one backward (which also sums the bias gradient), where
    ``F.gelu(F.linear(x, w, b))`` runs the bias add and the GELU separately. Use it after a Linear without
    bias::

        h = F.bias_gelu(F.linear(x, fc.weight), fc.bias)
    """
    if approximate not in _GELU:
        raise ValueError(f"bias_gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _bias_act(input, bias, _GELU[approximate], "bias_gelu")


def bias_silu(input, bias):
    """``silu(input + bias)`` with ``bias`` over the last dim, fused like bias_gelu."""
    return _bias_act(input, bias, "silu", "bias_silu")


def _check_bias(input, bias, name):
    if not input.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a floating point input, got {input.dtype}")
    if bias.dim() != 1 or input.dim() < 1 or bias.shape[0] != input.shape[-1]:
        raise ValueError(f"{name}: bias must be 1-D with the input's last dim, got input {list(input.shape)} and "
                         f"bias {list(bias.shape)}")
    if bias.device != input.device:
        raise ValueError(f"{name}: bias is on {bias.device}, the input on {input.device}")


def _bias_act(input, bias, act, name):
    _check_bias(input, bias, name)
    if bias.dtype != input.dtype:  # promote as input + bias would
        if not bias.dtype.is_floating_point:
            raise TypeError(f"{name}: expected a floating point bias, got {bias.dtype}")
        rank = {_C.float16: 1, _C.bfloat16: 1, _C.float32: 2, _C.float64: 3}
        hi = max(input.dtype, bias.dtype, key=rank.get)
        dtype = _C.float32 if rank[input.dtype] == rank[bias.dtype] else hi  # float16 with bfloat16
        input, bias = input.to(dtype), bias.to(dtype)
    return ops._bias_act(input, bias, act)


def _activation(act, z):
    return ops.silu(z) if act == "silu" else ops.gelu(z, approximate="tanh" if act == "gelu_tanh" else "none")


def activation_grad(act, g, z):
    """g * act'(z), one op (gelu_backward / silu_backward)."""
    return ops.silu_backward(g, z) if act == "silu" else \
        ops.gelu_backward(g, z, approximate="tanh" if act == "gelu_tanh" else "none")


def _bias_act_composite(input, bias, activation):
    _check_op_args(input, bias, activation)
    return _activation(activation, _acc(input) + _acc(bias)).to(input.dtype)  # rounded once, as on CUDA


def _bias_act_backward_composite(grad_out, input, bias, activation, bias_grad):
    _check_op_args(input, bias, activation)
    if tuple(grad_out.shape) != tuple(input.shape) or grad_out.dtype != input.dtype:
        raise ValueError("bias_act_backward: grad_out must match the input's shape, dtype and device")
    dz = activation_grad(activation, _acc(grad_out), _acc(input) + _acc(bias))
    db = dz.reshape(-1, bias.shape[0]).sum(0).to(bias.dtype) if bias_grad else \
        ops.empty([0], dtype=input.dtype, device=input.device)  # the schema's "no gradient"
    return dz.to(input.dtype), db


def _check_op_args(input, bias, act):
    """What the CUDA kernels check (csrc/cuda/fused_act.cpp), with their messages."""
    if act not in ("gelu", "gelu_tanh", "silu"):
        raise ValueError(f"bias_act: activation must be 'gelu', 'gelu_tanh' or 'silu', got {act!r}")
    _check_bias(input, bias, "bias_act")
    if bias.dtype != input.dtype:
        raise TypeError("bias_act: bias must have the input's dtype and device")


# ---- rotary position embedding -------------------------------------------------------------------------


def apply_rotary_emb(x, cos, sin, interleaved=False, seq_dim=1):
    """Rotary position embedding (RoFormer) of queries or keys ``x`` [B, T, H, D] (``seq_dim=1``) or
    [B, H, T, D] (``seq_dim=2``), with ``cos``, ``sin`` [>= T, R / 2] (R <= D: the first R dims of each head
    rotate, the rest pass through; row t is position t). Pairs are GPT-NeoX's / Llama's rotate_half halves
    ``(x[i], x[i + R/2])``, or GPT-J's adjacent ``(x[2i], x[2i + 1])`` with ``interleaved=True``; each becomes
    ``(x1 cos - x2 sin, x2 cos + x1 sin)``, computed in fp32 and returned in x's dtype. On CUDA one kernel
    forward and one backward (the rotation by -theta)::

        cos, sin = vt.cos(ang), vt.sin(ang)      # ang[t, i] = t * 10000 ** (-2i / R)
        q = F.apply_rotary_emb(q, cos, sin)
    """
    if seq_dim in (-3, -2):
        seq_dim += 4
    _check_rotary(x, cos, sin, seq_dim, "apply_rotary_emb")
    if is_grad_enabled() and (cos.requires_grad or sin.requires_grad):  # learned tables: differentiable ops
        return _rotate(x, cos, sin, seq_dim, interleaved, False)
    return ops._rotary_emb(x, cos, sin, seq_dim, interleaved, False)


def _check_rotary(x, cos, sin, seq_dim, name):
    """What the CUDA kernel checks (csrc/cuda/rotary.cpp), with its messages."""
    if x.dim() != 4:
        raise ValueError(f"{name}: expected a 4-D input ([B, T, H, D] or [B, H, T, D]), got shape {list(x.shape)}")
    if seq_dim not in (1, 2):
        raise ValueError(f"{name}: seq_dim must be 1 or 2 (or -3, -2), got {seq_dim}")
    if cos.dim() != 2 or tuple(cos.shape) != tuple(sin.shape):
        raise ValueError(f"{name}: cos and sin must both be [T, rotary_dim / 2], got {list(cos.shape)} and "
                         f"{list(sin.shape)}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a floating point input, got {x.dtype}")
    if not cos.dtype.is_floating_point or cos.dtype != sin.dtype:
        raise TypeError(f"{name}: cos and sin must share one floating point dtype")
    if cos.device != x.device or sin.device != x.device:
        raise ValueError(f"{name}: cos and sin must be on the input's device")
    t, d, half = x.shape[seq_dim], x.shape[3], cos.shape[1]
    if cos.shape[0] < t:
        raise ValueError(f"{name}: cos and sin have {cos.shape[0]} positions, the input {t}")
    if not 1 <= half <= d // 2:
        raise ValueError(f"{name}: cos and sin must hold 1 to head_dim / 2 ({d // 2}) frequencies, got {half}")


def _rotate(x, cos, sin, seq_dim, interleaved, inverse):
    """The rotation written with core ops (the Composite kernel, and the path for tables wanting gradients)."""
    t, half = x.shape[seq_dim], cos.shape[1]
    shape = [1, 1, 1, half]
    shape[seq_dim] = t
    ct = _C.float64 if x.dtype == _C.float64 else _C.float32
    c = cos.narrow(0, 0, t).to(ct).reshape(shape)
    s = sin.narrow(0, 0, t).to(ct).reshape(shape)
    if inverse:
        s = -s
    xf = x.to(ct)
    rot = xf.narrow(3, 0, 2 * half)
    if interleaved:
        pairs = rot.reshape(list(x.shape[:3]) + [half, 2])
        x1, x2 = pairs.select(4, 0), pairs.select(4, 1)
        out = ops.stack([x1 * c - x2 * s, x2 * c + x1 * s], 4).reshape(list(x.shape[:3]) + [2 * half])
    else:
        x1, x2 = rot.narrow(3, 0, half), rot.narrow(3, half, half)
        out = ops.cat([x1 * c - x2 * s, x2 * c + x1 * s], 3)
    if 2 * half < x.shape[3]:
        out = ops.cat([out, xf.narrow(3, 2 * half, x.shape[3] - 2 * half)], 3)
    return out.to(x.dtype)


def _rotary_emb_composite(input, cos, sin, seq_dim, interleaved, inverse):
    _check_rotary(input, cos, sin, seq_dim, "rotary_emb")
    return _rotate(input, cos, sin, seq_dim, interleaved, inverse)


# ---- embedding backward --------------------------------------------------------------------------------


def _embedding_dense_backward_composite(grad_output, indices, num_weights, padding_idx):
    d = grad_output.shape[-1] if grad_output.dim() else 0
    if tuple(grad_output.shape) != tuple(indices.shape) + (d,):
        raise ValueError(f"embedding_dense_backward: grad_output must be shaped indices.shape + [embedding_dim], "
                         f"got {list(grad_output.shape)} for indices of shape {list(indices.shape)}")
    flat_idx = indices.reshape(-1)
    flat_g = _acc(grad_output).reshape(-1, d)  # half types sum in fp32, rounded once (as on CUDA)
    if padding_idx >= 0:
        flat_g = flat_g * (flat_idx != padding_idx).unsqueeze(1)
    zeros = ops.zeros([num_weights, d], dtype=flat_g.dtype, device=grad_output.device)
    return zeros.index_add(0, flat_idx, flat_g).to(grad_output.dtype)


for _name, _fn in {"_bias_act": _bias_act_composite, "_bias_act_backward": _bias_act_backward_composite,
                   "_rotary_emb": _rotary_emb_composite,
                   "embedding_dense_backward": _embedding_dense_backward_composite}.items():
    library.impl(_name, "composite", _fn)
