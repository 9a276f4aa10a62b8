"""float64 numpy references for the fused bias-activations, rotary position embedding and the embedding
backward (shared by the interpreter tests of the Triton kernels, the CPU op tests and the CUDA tests)."""
import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])
_K = math.sqrt(2 / math.pi)


def act(name, z):
    z = np.asarray(z, np.float64)
    if name == "gelu":
        return 0.5 * z * (1 + _erf(z / math.sqrt(2)))
    if name == "gelu_tanh":
        return 0.5 * z * (1 + np.tanh(_K * (z + 0.044715 * z ** 3)))
    if name == "silu":
        return z / (1 + np.exp(-z))
    raise ValueError(name)


def act_grad(name, z):
    """d act / dz, written out (checked against numeric differences in the tests)."""
    z = np.asarray(z, np.float64)
    if name == "gelu":
        return 0.5 * (1 + _erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if name == "gelu_tanh":
        t = np.tanh(_K * (z + 0.044715 * z ** 3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _K * (1 + 3 * 0.044715 * z * z)
    s = 1 / (1 + np.exp(-z))
    return s * (1 + z * (1 - s))


def bias_act_forward(name, x, b):
    return act(name, np.asarray(x, np.float64) + b)


def bias_act_backward(name, dy, x, b):
    """(dx, db) of sum(dy * act(x + b)), db summed over every leading axis."""
    dx = np.asarray(dy, np.float64) * act_grad(name, np.asarray(x, np.float64) + b)
    return dx, dx.reshape(-1, dx.shape[-1]).sum(0)


def rotary(x, cos, sin, seq_dim=1, interleaved=False, inverse=False):
    """x [B, T, H, D] (seq_dim 1) or [B, H, T, D] (seq_dim 2); cos, sin [>= T, R / 2]: the first R dims of
    each head rotated pairwise by theta (-theta with inverse), the rest passed through."""
    x = np.asarray(x, np.float64)
    t, half = x.shape[seq_dim], cos.shape[1]
    shape = [1, 1, 1, half]
    shape[seq_dim] = t
    c = np.asarray(cos[:t], np.float64).reshape(shape)
    s = np.asarray(sin[:t], np.float64).reshape(shape) * (-1 if inverse else 1)
    out = x.copy()
    i1, i2 = (slice(0, 2 * half, 2), slice(1, 2 * half, 2)) if interleaved else (slice(0, half), slice(half, 2 * half))
    x1, x2 = x[..., i1], x[..., i2]
    out[..., i1] = x1 * c - x2 * s
    out[..., i2] = x2 * c + x1 * s
    return out


def rotary_tables(t, half, base=10000.0):
    """cos, sin [t, half] of theta = position * base ** (-2i / (2 half)), as GPT-NeoX and Llama build them."""
    inv = base ** (-np.arange(half, dtype=np.float64) * 2 / (2 * half))
    ang = np.arange(t, dtype=np.float64)[:, None] * inv[None, :]
    return np.cos(ang), np.sin(ang)


def embedding_backward(grad, indices, num_weights, padding_idx=-1):
    """The weight gradient of embedding(weight, indices) given the output's gradient."""
    grad = np.asarray(grad, np.float64)
    idx = np.asarray(indices).reshape(-1)
    g = grad.reshape(idx.size, -1)
    out = np.zeros((num_weights, g.shape[1]))
    keep = idx != padding_idx
    np.add.at(out, idx[keep], g[keep])
    return out
