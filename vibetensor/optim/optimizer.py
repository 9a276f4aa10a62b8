"""Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict round trips."""
import copy

from .. import _C
from ..autograd import no_grad
from .fused import FusedState


def implementation_flags(foreach=None, fused=None, capturable=False, differentiable=False):
    """PyTorch's flags that pick among implementations of the same update, validated and recorded in the parameter
    groups as PyTorch does. On CUDA, ``fused`` None or True (and ``foreach`` not False) takes the multi-tensor
    kernels (optim/fused.py); ``capturable=True`` makes them read the step count from device memory.
    ``differentiable=True`` changes what the step computes (a graph through the update) and is not supported."""
    if differentiable:
        raise NotImplementedError("differentiable=True (autograd through optimizer.step) is not supported")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    return dict(foreach=foreach, fused=fused, capturable=capturable, differentiable=False)


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        self._fused = FusedState()  # launch tables and host step counts of the fused path
        params = list(params) if not isinstance(params, _C.TensorBase) else [params]
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        group = dict(group)
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, _C.TensorBase) else list(ps)
        for p in group["params"]:
            if not isinstance(p, _C.TensorBase):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.zero_()

    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [...]} with parameters replaced by their index."""
        index, groups = {}, []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        params = {id(p): p for g in self.param_groups for p in g["params"]}
        state = {index[pid]: {k: (v.clone() if isinstance(v, _C.TensorBase) else v) for k, v in s.items()}
                 for pid, s in ((id(p), self.state[p]) for p in params.values() if p in self.state)}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        by_index = {}
        for mine, theirs in zip(self.param_groups, groups):
            for p, i in zip(mine["params"], theirs["params"]):
                by_index[i] = p
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v)
        self.state = {}
        self._fused.forget()
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: (v.to(dtype=p.dtype if v.dtype.is_floating_point and k != "step" else v.dtype,
                                      device=p.device).clone() if isinstance(v, _C.TensorBase) else v)
                             for k, v in s.items()}

    @no_grad()
    def step(self, closure=None):
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure):
        """Runs step()'s closure with grad enabled (step itself runs under no_grad); returns its loss."""
        if closure is None:
            return None
        from ..autograd import enable_grad
        with enable_grad():
            return closure()

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(g.items()) if k != "params"]
        return "\n".join(lines) + "\n)"
