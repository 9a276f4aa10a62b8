"""Numerical gradient checks in float64: finite differences against the analytic backward."""
from .. import _C
from .engine import grad
from .grad_mode import enable_grad, no_grad

ops = _C._ops


def _numeric_jacobian_column(fn, inputs, i, k, eps):
    x = inputs[i]
    flat = x.detach().reshape(-1)
    orig = flat[k].item()

    def at(v):
        # Fresh leaves with the inputs' requires_grad, so fn may itself differentiate (gradgradcheck).
        probe = [a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, _C.TensorBase) else a
                 for a in inputs]
        with no_grad():
            probe[i].reshape(-1)[k] = v
        with enable_grad():
            out = fn(*probe)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().to(_C.float64).reshape(-1) for o in outs if isinstance(o, _C.TensorBase)]

    plus, minus = at(orig + eps), at(orig - eps)
    return [(p - m) / (2 * eps) for p, m in zip(plus, minus)]


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Checks d fn / d inputs (float64 tensors that require grad) column by column against finite differences.

    >>> import vibetensor as vt
    >>> x = vt.randn(3, dtype=vt.float64, requires_grad=True)
    >>> vt.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
    True
    """
    inputs = tuple(inputs)
    diff = [i for i, a in enumerate(inputs) if isinstance(a, _C.TensorBase) and a.requires_grad]
    for i in diff:
        if inputs[i].dtype != _C.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs for a meaningful check")
    out = fn(*inputs)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, _C.TensorBase)]
    # Numerical Jacobian: two evaluations per input element. Analytic: one backward per output element.
    numeric = {i: [_numeric_jacobian_column(fn, inputs, i, k, eps) for k in range(inputs[i].numel())] for i in diff}
    for oi, o in enumerate(outs):
        if not o.requires_grad:
            continue
        for j in range(o.numel()):
            go = ops.zeros(o.shape, dtype=o.dtype)
            go.reshape(-1)[j] = 1.0
            analytic = grad([o], [inputs[i] for i in diff], [go], retain_graph=True, allow_unused=True)
            for a_grad, i in zip(analytic, diff):
                x = inputs[i]
                a_vals = (a_grad.to(_C.float64).reshape(-1).tolist() if a_grad is not None else [0.0] * x.numel())
                for k in range(x.numel()):
                    n, a = numeric[i][k][oi][j].item(), a_vals[k]
                    if abs(a - n) > atol + rtol * abs(n):
                        msg = (f"Jacobian mismatch for output {oi} element {j} with respect to input {i} element {k}:"
                               f" analytic {a}, numerical {n}")
                        if raise_exception:
                            raise GradcheckError(msg)
                        return False
    return True


def gradgradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Checks second derivatives: the gradient of (fn's output . random cotangent) through create_graph."""
    inputs = tuple(inputs)
    diff = [i for i, a in enumerate(inputs) if isinstance(a, _C.TensorBase) and a.requires_grad]

    def first_grad(*xs):
        out = fn(*xs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        o = outs[0]
        gs = grad([o], [xs[i] for i in diff], [ops.ones(o.shape, dtype=o.dtype)], create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grad, inputs, eps=eps, atol=atol, rtol=rtol)


class GradcheckError(RuntimeError):
    pass
