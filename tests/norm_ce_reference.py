"""float64 numpy references for LayerNorm / RMSNorm and cross-entropy from logits, forward and backward
(shared by the interpreter tests of the Triton kernels and the CUDA tests of the ops)."""
import numpy as np


def norm_forward(kind, x, w=None, b=None, eps=1e-5):
    """kind "ln" or "rms" over the last axis: (y, mean or None, rstd)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(-1) if kind == "ln" else None
    xc = x - mean[..., None] if kind == "ln" else x
    rstd = 1.0 / np.sqrt((xc * xc).mean(-1) + eps)
    y = xc * rstd[..., None]
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y, mean, rstd


def norm_backward(kind, dy, x, w=None, eps=1e-5):
    """(dx, dw, db) of sum(dy * norm(x)) with dw/db summed over every leading axis."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    _, mean, rstd = norm_forward(kind, x, None, None, eps)
    xhat = (x - mean[..., None] if kind == "ln" else x) * rstd[..., None]
    wdy = dy * w if w is not None else dy
    proj = xhat * (xhat * wdy).mean(-1, keepdims=True)
    if kind == "ln":
        proj = proj + wdy.mean(-1, keepdims=True)
    dx = (wdy - proj) * rstd[..., None]
    lead = tuple(range(x.ndim - 1))
    return dx, (dy * xhat).sum(lead), dy.sum(lead)


def cross_entropy_forward(logits, target, ignore_index=-100, smoothing=0.0):
    """Mean loss over rows whose target is not ignore_index, and the per-row log-sum-exp."""
    x = np.asarray(logits, np.float64)
    m = x.max(-1)
    lse = np.log(np.exp(x - m[:, None]).sum(-1)) + m
    valid = target != ignore_index
    picked = x[np.arange(len(x)), np.where(valid, target, 0)]
    rows = (1 - smoothing) * (lse - picked) + smoothing * (lse - x.mean(-1))
    return (rows * valid).sum() / valid.sum(), lse


def cross_entropy_backward(grad, logits, target, ignore_index=-100, smoothing=0.0):
    x = np.asarray(logits, np.float64)
    _, lse = cross_entropy_forward(x, target, ignore_index, smoothing)
    valid = target != ignore_index
    onehot = np.zeros_like(x)
    onehot[np.arange(len(x)), np.where(valid, target, 0)] = 1.0
    d = np.exp(x - lse[:, None]) - (1 - smoothing) * onehot - smoothing / x.shape[1]
    return d * (valid[:, None] * grad / valid.sum())


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f at x (float64), element by element: checks the references."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g
