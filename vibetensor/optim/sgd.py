"""SGD with momentum, dampening, Nesterov and weight decay (PyTorch's update rule)."""
from ..autograd import no_grad
from . import fused
from .optimizer import Optimizer, implementation_flags


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
                 *, foreach=None, differentiable=False, fused=None):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"Invalid hyperparameter: lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        flags = implementation_flags(foreach, fused, differentiable=differentiable)
        del flags["capturable"]  # PyTorch's SGD has no such flag
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize, **flags))

    @no_grad()
    def step(self, closure=None):
        loss = self._evaluate(closure)
        for i, g in enumerate(self.param_groups):
            buckets, rest, repeat = fused.split(self, i, g)
            for key, params in buckets.items():  # one launch per (device, dtype)
                fused.sgd_step(self, i, g, key, params, repeat)
            lr, mom, damp, wd = g["lr"], g["momentum"], g["dampening"], g["weight_decay"]
            for p in rest:
                d = p.grad if not g["maximize"] else -p.grad
                if wd:
                    d = d.add(p, alpha=wd)
                if mom:
                    st = self.state.setdefault(p, {})
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = d.clone()
                    else:
                        buf.mul_(mom).add_(d, alpha=1 - damp)
                    d = d.add(buf, alpha=mom) if g["nesterov"] else buf
                p.add_(d, alpha=-lr)
        return loss
