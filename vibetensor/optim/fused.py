"""The fused path of Adam/AdamW and SGD: one multi-tensor kernel launch per (device, dtype) bucket of a parameter
group instead of several small ops per parameter (kernels/triton/optim*.py), with PyTorch's fused formulas. On
CPU, Adam/AdamW's parameters take one native call instead (cpu_adam_step, csrc/cpu/adam.cpp).

A parameter takes it when it is on a fused device (CUDA), float32/float16/bfloat16, contiguous, 16-byte
aligned, non-empty, with a gradient of its dtype and layout, and its group does not say fused=False or
foreach=False; the others keep the per-parameter path. The device tables are cached per bucket and rebuilt when
the parameters, their storages or their gradients' storages change (kernels/triton/optim_launch.Tables).

Step counts stay in float32 device tensors (state["step"], as PyTorch's fused path keeps them). The optimizer
also mirrors them on the host while it knows them (fresh state, fused steps only), so the default launch passes
the bias corrections as scalars; capturable=True, a CUDA graph capture, or an unknown count (after
load_state_dict or a per-parameter step) increments and reads the counts on the device instead: no host sync.
"""
from .. import _C
from ..kernels.triton import optim_launch

ops = _C._ops
FUSED_DEVICE_TYPES = {"cuda"}  # the tests add "cpu" to run the same path through Triton's interpreter
FUSED_DTYPES = ("float32", "float16", "bfloat16")


def kernel_ready(t):
    """A tensor the kernels take: contiguous, float32/float16/bfloat16, 16-byte aligned (their full tiles use
    16-byte loads)."""
    return t.dtype.name in FUSED_DTYPES and t.is_contiguous() and t.data_ptr() % 16 == 0


def _fusable(p):
    g = p.grad
    return (p.device.type in FUSED_DEVICE_TYPES and p.numel() > 0 and kernel_ready(p) and kernel_ready(g)
            and g.dtype == p.dtype and g.device == p.device)


def split(opt, index, group):
    """({(device, dtype): params} for the fused path, params for the per-parameter path, whether this is the
    split of the group's previous step); params without a gradient are in neither. A repeat is recognised by
    the addresses of the params and gradients (and the group's flags), which costs less than the checks."""
    params = group["params"]
    allowed = group.get("fused") is not False and group.get("foreach") is not False
    grads = [p.grad for p in params]
    sig = (allowed, group.get("amsgrad"), *[0 if g is None else g.data_ptr() for g in grads],
           *[p.data_ptr() for p in params])
    last = opt._fused.splits.get(index)
    if last is not None and last[0] == sig:
        return last[1], last[2], True
    buckets, rest = {}, []
    for p, g in zip(params, grads):
        if g is None:
            continue
        if allowed and _fusable(p):
            buckets.setdefault((str(p.device), p.dtype.name), []).append(p)
        else:
            rest.append(p)
    opt._fused.splits[index] = (sig, buckets, rest)
    return buckets, rest, False


class FusedState:
    """Per optimizer: each group's last split, the launch tables of each bucket and the host mirror of the
    step counts."""

    def __init__(self):
        self.splits, self.tables, self.host_steps = {}, {}, {}

    def table(self, key, device):
        if key not in self.tables:
            self.tables[key] = optim_launch.Tables(device)
        return self.tables[key]

    def forget(self, params=None):
        """Drops what the host knows of these parameters' steps (all: and the splits and tables), after changes
        it did not make."""
        if params is None:
            self.splits.clear()
            self.tables.clear()
            self.host_steps.clear()
        else:
            for p in params:
                self.host_steps.pop(p, None)

    def host_step(self, params, on_device):
        """The step count every param reaches now if the host knows it and it is one count (else None, and
        the kernel reads each from its step tensor); the mirror moves on either way."""
        known = [self.host_steps.get(p) for p in params]
        for p, s in zip(params, known):
            if s is not None:
                self.host_steps[p] = s + 1
        if on_device or any(s is None for s in known) or len(set(known)) != 1:
            return None
        return known[0] + 1


def adam_step(opt, index, group, key, params, repeat):
    """repeat: the group's split is its previous step's (split()), so states and tables are as they were."""
    lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    amsgrad = group["amsgrad"]
    for p in () if repeat else params:
        if adam_state(opt, p, amsgrad)[1]:
            opt._fused.host_steps[p] = 0
    states = [opt.state[p] for p in params]
    device = params[0].device
    if optim_launch.capturing(device):  # replays, not this call, advance the counts: the host loses track
        opt._fused.forget(params)
    host_step = opt._fused.host_step(params, group["capturable"])
    optim_launch.adam(opt._fused.table((index, key), device), params, [p.grad for p in params],
                      [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                      [s["max_exp_avg_sq"] for s in states] if amsgrad else None, [s["step"] for s in states],
                      lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd,
                      decoupled=group["decoupled_weight_decay"], amsgrad=amsgrad, maximize=group["maximize"],
                      host_step=host_step, unchanged=repeat)


def adam_state(opt, p, amsgrad):
    """(p's Adam state, whether it was just made): zero moments of p's dtype on its device and a float32 step
    count on first use, and the running maximum of the second moment with amsgrad."""
    st = opt.state.setdefault(p, {})
    fresh = not st
    if fresh:
        st["step"] = ops.zeros([], dtype=_C.float32, device=p.device)
        st["exp_avg"] = ops.zeros(p.shape, dtype=p.dtype, device=p.device)
        st["exp_avg_sq"] = ops.zeros(p.shape, dtype=p.dtype, device=p.device)
    if amsgrad and "max_exp_avg_sq" not in st:
        st["max_exp_avg_sq"] = ops.zeros(p.shape, dtype=p.dtype, device=p.device)
    return st, fresh


def cpu_fusable(group, p):
    """A parameter the CPU's fused Adam step (csrc/cpu/adam.cpp) takes: contiguous floating CPU tensors with a
    gradient of the same dtype and shape, in a group that does not ask for the per-parameter path."""
    g = p.grad
    return (p.device.type == "cpu" and g is not None and group.get("fused") is not False
            and group.get("foreach") is not False and p.dtype.is_floating_point and p.is_contiguous()
            and g.dtype == p.dtype and g.device == p.device and g.is_contiguous() and tuple(g.shape) == tuple(p.shape))


def _state_fits(p, st):
    """Whether a parameter's Adam state is what the native step reads: float32 one-element step count, moments
    of its dtype and shape, contiguous, on the CPU (a loaded state may not be; the per-parameter path takes
    it)."""
    step = st.get("step")
    if not (isinstance(step, _C.TensorBase) and step.dtype == _C.float32 and step.numel() == 1
            and step.device.type == "cpu"):
        return False
    keys = [k for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if k in st]
    return all(isinstance(st[k], _C.TensorBase) and st[k].dtype == p.dtype and st[k].device.type == "cpu"
               and st[k].is_contiguous() and tuple(st[k].shape) == tuple(p.shape) for k in keys)


def cpu_adam_step(opt, group, params):
    """One fused Adam/AdamW step, in native code (each tensor read and written once), over the parameters it
    takes: cpu_fusable ones whose state has the layout it reads. Returns the others, for the per-parameter
    path."""
    amsgrad = group["amsgrad"]
    taken, left = [], []
    for p in params:
        (taken if cpu_fusable(group, p) and _state_fits(p, adam_state(opt, p, amsgrad)[0]) else left).append(p)
    if not taken:
        return left
    states = [opt.state[p] for p in taken]
    lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    _C._cpu_adam_step(taken, [p.grad for p in taken], [s["exp_avg"] for s in states],
                      [s["exp_avg_sq"] for s in states], [s["max_exp_avg_sq"] for s in states] if amsgrad else [],
                      [s["step"] for s in states], float(lr), float(b1), float(b2), float(eps), float(wd),
                      bool(group["decoupled_weight_decay"]), bool(amsgrad), bool(group["maximize"]))
    return left


def sgd_step(opt, index, group, key, params, repeat):
    mom = group["momentum"]
    fresh = [p for p in params if mom and opt.state.get(p, {}).get("momentum_buffer") is None]
    fresh_ids = {id(p) for p in fresh}
    running = [p for p in params if id(p) not in fresh_ids]
    for p in fresh:  # PyTorch's first momentum step: the buffer takes the gradient (written by the kernel)
        opt.state.setdefault(p, {})["momentum_buffer"] = ops.empty(p.shape, dtype=p.grad.dtype, device=p.device)
    for first, ps in ((True, fresh), (False, running)):
        if ps:
            optim_launch.sgd(opt._fused.table((index, key), ps[0].device), ps, [p.grad for p in ps],
                             [opt.state[p]["momentum_buffer"] for p in ps] if mom else None, lr=group["lr"],
                             momentum=mom, dampening=group["dampening"], weight_decay=group["weight_decay"],
                             nesterov=group["nesterov"], maximize=group["maximize"], first=first,
                             unchanged=repeat and not fresh)
