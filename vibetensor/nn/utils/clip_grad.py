"""Gradient clipping. The total norm is computed and applied on the device, without a host sync: on CUDA by the
multi-tensor kernels (one norm and one scale launch per gradient dtype, kernels/triton/optim*.py), elsewhere
by per-gradient ops."""
import math

from ... import _C
from ...autograd import no_grad
from ...kernels.triton import optim_launch
from ...optim import fused

ops = _C._ops
_FUSED_ORDERS = {2.0: 2, 1.0: 1, math.inf: 0}
_tables = {}  # (device, dtype) -> the launch tables of the last gradients clipped there


def _grads(parameters):
    if isinstance(parameters, _C.TensorBase):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales gradients in place so their joint norm is at most max_norm; returns the norm (a tensor).

    The scale is min(1, max_norm / (norm + 1e-6)) computed as a tensor, so nothing waits for the device
    unless error_if_nonfinite asks to inspect the norm.
    """
    grads = _grads(parameters)
    if not grads:
        return ops.zeros([])
    norm_type = float(norm_type)
    total = _fused_clip(grads, max_norm, norm_type) if not error_if_nonfinite and foreach is not False else None
    if total is not None:
        return total
    if math.isinf(norm_type):
        norms = [g.abs().amax() for g in grads]
        total = norms[0] if len(norms) == 1 else ops.stack([n.to(norms[0].dtype) for n in norms]).amax()
    else:
        norms = [g.norm(norm_type) for g in grads]
        total = ops.stack([n.to(_C.float32) for n in norms]).norm(norm_type)
    if error_if_nonfinite and not bool(total.isfinite().item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           "cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return total


def _fused_clip(grads, max_norm, norm_type):
    """The norm (clipping done) from the multi-tensor kernels, or None where they do not apply: not every
    gradient on one fused device and ready for the kernels (fused.kernel_ready), or an order other than 1, 2, inf."""
    device = grads[0].device
    if (norm_type not in _FUSED_ORDERS or device.type not in fused.FUSED_DEVICE_TYPES
            or any(g.device != device or not fused.kernel_ready(g) for g in grads)):
        return None
    by_dtype = {}
    for g in grads:
        by_dtype.setdefault(g.dtype.name, []).append(g)
    buckets = []
    for dtype, gs in by_dtype.items():
        key = (str(device), dtype)
        if key not in _tables:
            _tables[key] = optim_launch.Tables(device)
        buckets.append((_tables[key], gs))
    return optim_launch.clip_grad_norm(buckets, max_norm, _FUSED_ORDERS[norm_type], device)


@no_grad()
def clip_grad_value_(parameters, clip_value, foreach=None):
    for g in _grads(parameters):
        g.clamp_(-clip_value, clip_value)
