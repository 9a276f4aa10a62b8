"""GradScaler: loss scaling for float16 training (PyTorch's torch.amp.GradScaler).

float16 gradients of small magnitude flush to zero; scaling the loss by S scales every gradient by S.
``step`` unscales the gradients (divides by S) and skips the optimizer step when any of them is inf or
NaN; ``update`` then halves S after such a step, and doubles it after ``growth_interval`` clean ones.
The scale and the inf checks stay on the device: the one host sync per step is step()'s skip decision.
bfloat16 has float32's range and needs none of this.

>>> import vibetensor as vt
>>> w = vt.nn.Parameter(vt.ones(2))
>>> opt = vt.optim.SGD([w], lr=0.1)
>>> scaler = vt.amp.GradScaler("cpu", init_scale=1024.0)
>>> scaler.scale((w * w).sum()).backward()
>>> scaler.step(opt); scaler.update()
>>> w.tolist(), scaler.get_scale()
([0.800000011920929, 0.800000011920929], 1024.0)
"""
import warnings
from collections import defaultdict

from .. import _C
from ..autograd import no_grad
from ..tensor_core import cuda, dtypes

ops = _C._ops
_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"  # one optimizer's stage within a step


def _fresh_state():
    return {"stage": _READY, "found_inf_per_device": {}}


class GradScaler:
    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = device
        if enabled and device == "cuda" and not cuda.is_available():
            warnings.warn("GradScaler is enabled, but CUDA is not available.  Disabling.")
            enabled = False
        self._enabled = enabled
        if enabled:
            if growth_factor <= 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
        self._init_scale, self._growth_factor, self._backoff_factor = float(init_scale), growth_factor, backoff_factor
        self._growth_interval, self._init_growth_tracker = growth_interval, 0
        self._scale = self._growth_tracker = None  # made on the device of the first scaled output
        self._per_optimizer_states = defaultdict(_fresh_state)

    def is_enabled(self):
        return self._enabled

    def scale(self, outputs):
        """outputs * scale: a tensor, or (nested) lists and tuples of them."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, _C.TensorBase):
            if self._scale is None:
                self._lazy_init(outputs.device)
            return outputs * self._scale.to(outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _lazy_init(self, device):
        self._scale = ops.full([], self._init_scale, dtype=dtypes.float32, device=device)
        self._growth_tracker = ops.full([], self._init_growth_tracker, dtype=dtypes.int32, device=device)

    def _check_initialized(self, funcname):
        if self._scale is None:
            raise RuntimeError(f"Attempted {funcname} but _scale is None.  This may indicate your script did not use "
                               "scaler.scale(loss or outputs) earlier in the iteration.")

    def unscale_(self, optimizer):
        """Divides the optimizer's gradients by the scale in place (call before clipping them), noting on
        each device whether any is inf or NaN. At most once per optimizer per step."""
        if not self._enabled:
            return
        self._check_initialized("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = self._scale.double().reciprocal().float()
        state["found_inf_per_device"] = self._unscale_grads(optimizer, inv_scale)
        state["stage"] = _UNSCALED

    def _unscale_grads(self, optimizer, inv_scale):
        finite = defaultdict(list)  # device -> one all-finite flag per gradient
        inv = {}
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype == dtypes.float16:
                        # The parameter itself is float16: unscaled updates would lose what scaling kept.
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    key = str(g.device)
                    if key not in inv:
                        inv[key] = inv_scale.to(g.device)
                    g.mul_(inv[key])
                    finite[key].append(g.isfinite().all())
        return {key: (~ops.stack(flags).all()).float() for key, flags in finite.items()}

    def step(self, optimizer, *args, **kwargs):
        """Unscales (unless unscale_ already did) and runs optimizer.step() unless a gradient is inf or NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_initialized("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        if not state["found_inf_per_device"]:
            raise RuntimeError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return retval

    def update(self, new_scale=None):
        """Backs the scale off after a skipped step, grows it after growth_interval clean ones, or sets it to
        ``new_scale``; starts the next step's bookkeeping. Runs on the device, without a host sync."""
        if not self._enabled:
            return
        self._check_initialized("update")
        if new_scale is not None:
            if isinstance(new_scale, _C.TensorBase):
                if new_scale.numel() != 1 or new_scale._requires_grad:
                    raise ValueError("new_scale should be a float or a 1-element tensor with requires_grad=False.")
                self._scale.copy_(new_scale.reshape([]))
            else:
                self._scale.fill_(float(new_scale))
        else:
            found = [f.to(self._scale.device) for s in self._per_optimizer_states.values()
                     for f in s["found_inf_per_device"].values()]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update.")
            self._update_scale(ops.stack(found).sum() > 0)
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _update_scale(self, found_inf):
        # PyTorch's _amp_update_scale_, as device ops: back off on inf; grow after growth_interval clean
        # steps unless growing would overflow the scale itself.
        with no_grad():
            scale, tracker = self._scale, self._growth_tracker
            clean = tracker + 1
            grow = (~found_inf) & (clean == self._growth_interval)
            grown = scale * self._growth_factor
            kept = ops.where(grow & grown.isfinite(), grown, scale)
            scale.copy_(ops.where(found_inf, scale * self._backoff_factor, kept))
            tracker.copy_(ops.where(found_inf | grow, 0, clean))

    def get_scale(self):
        """The current scale as a Python float (a host sync), 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._scale is not None:
            self._scale.fill_(self._init_scale)
            self._growth_tracker.fill_(self._init_growth_tracker)
