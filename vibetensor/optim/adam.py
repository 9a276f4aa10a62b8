"""Adam and AdamW (decoupled weight decay), with PyTorch's bias correction and amsgrad."""
import math

from .. import _C
from ..autograd import no_grad
from . import fused
from .optimizer import Optimizer, implementation_flags

ops = _C._ops


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                 *, foreach=None, capturable=False, differentiable=False, fused=None, decoupled_weight_decay=False):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or weight_decay < 0:
            raise ValueError(f"Invalid hyperparameters: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
                                      **implementation_flags(foreach, fused, capturable, differentiable)))

    @no_grad()
    def step(self, closure=None):
        loss = self._evaluate(closure)
        for i, g in enumerate(self.param_groups):
            buckets, rest, repeat = fused.split(self, i, g)
            for key, params in buckets.items():  # one launch per (device, dtype)
                fused.adam_step(self, i, g, key, params, repeat)
            self._fused.forget(rest)  # their step counts move without the host mirror
            rest = fused.cpu_adam_step(self, g, rest)  # CPU parameters: one native pass; the others below
            lr, (b1, b2), eps, wd = g["lr"], g["betas"], g["eps"], g["weight_decay"]
            for p in rest:
                grad = p.grad if not g["maximize"] else -p.grad
                st = fused.adam_state(self, p, g["amsgrad"])[0]
                st["step"].add_(1)
                t = int(st["step"].item()) if p.device.type == "cpu" else None
                if wd:
                    if g["decoupled_weight_decay"]:
                        p.mul_(1 - lr * wd)
                    else:
                        grad = grad.add(p, alpha=wd)
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.lerp_(grad, 1 - b1)
                v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                if g["amsgrad"]:
                    st["max_exp_avg_sq"].copy_(ops.maximum(st["max_exp_avg_sq"], v))
                    v = st["max_exp_avg_sq"]
                if t is not None:  # host-side bias correction (CPU: the step count is a host value anyway)
                    bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                    denom = (v.sqrt() / math.sqrt(bc2)).add_(eps)
                    p.addcdiv_(m, denom, value=-lr / bc1)
                else:  # on devices, keep it on the device: no sync per step
                    step = st["step"]
                    bc1 = 1 - b1 ** step
                    bc2 = 1 - b2 ** step
                    denom = (v.sqrt() / bc2.sqrt()).add_(eps)
                    p.add_(-(lr / bc1) * m / denom)
        return loss


class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False, *, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused, decoupled_weight_decay=True)
