"""vt.autocast: regions where each op runs in the precision its kind suits (PyTorch's torch.autocast).

Inside ``autocast(device_type, dtype)``, matmuls and attention on that device run in ``dtype`` (bf16 or
fp16), ops that need float32's range run in float32, and joins run in their widest input type; policy.py
holds the table. The parameters stay float32 (the master weights): their casts are recorded by autograd,
so their gradients arrive in float32, and each one is cast once per region (the weight-cast cache).

>>> import vibetensor as vt
>>> a, b = vt.randn(4, 4), vt.randn(4, 4)
>>> with vt.autocast("cpu", dtype=vt.bfloat16):
...     c = a @ b          # a matmul: bfloat16
...     j = vt.cat([c, a]) # cat on CPU: the widest input type
>>> c.dtype, j.dtype
(vibetensor.bfloat16, vibetensor.float32)

The state is per thread and lives in the native core (the dispatcher reads it); this module is its
Python surface, the cache of weight casts, and the marker for autocast ops written in Python.
"""
import functools
import threading
import warnings

from .. import _C
from ..autograd.graph import meta
from ..tensor_core import cuda, dtypes
from . import policy

_local = threading.local()  # per thread: depth of nested autocast regions, and the weight-cast cache
_DTYPES = (dtypes.bfloat16, dtypes.float16)


def is_autocast_available(device_type):
    """Whether vt.autocast supports ``device_type`` ('cpu' and 'cuda')."""
    return device_type in ("cpu", "cuda")


def is_autocast_enabled(device_type="cuda"):
    """Whether ops on ``device_type`` autocast here (False while an op's autocast kernel or backward runs)."""
    return bool(_C._autocast_mask() & _C._autocast_device_bit(device_type))


def set_autocast_enabled(device_type, enabled):
    bit, mask = _C._autocast_device_bit(device_type), _C._autocast_mask()
    _C._set_autocast_mask(mask | bit if enabled else mask & ~bit)


def get_autocast_dtype(device_type):
    """The lower-precision dtype of ``device_type``'s regions (this thread; bfloat16 on CPU, float16 on CUDA)."""
    return _C._autocast_dtype(device_type)


def set_autocast_dtype(device_type, dtype):
    _C._set_autocast_dtype(device_type, dtype)


def is_autocast_cache_enabled():
    return _C._autocast_cache_enabled()


def set_autocast_cache_enabled(enabled):
    _C._set_autocast_cache_enabled(bool(enabled))


def clear_autocast_cache():
    """Drops this thread's cached weight casts (done when the outermost region exits)."""
    _cache().clear()


def _cache():
    return _local.__dict__.setdefault("cache", {})


class autocast:  # noqa: N801 - PyTorch's name
    """Context manager and decorator: ``with vt.autocast("cuda", dtype=vt.bfloat16): loss = model(x)``.

    ``dtype`` defaults to the thread's current one for the device (bfloat16 on CPU, float16 on CUDA);
    ``enabled=False`` turns autocast off inside an enclosing region; ``cache_enabled`` says whether casts of
    float32 leaves that require grad (weights) are reused within the region. Regions nest; the state is per
    thread. As in PyTorch, wrap the forward pass and the loss, not backward: backward ops run in the dtypes
    their forward ops used.
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if not is_autocast_available(device_type):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else dtype
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)
        enabled = bool(enabled)
        # PyTorch warns and runs the region without autocast in these two cases; so do we.
        if enabled and device_type == "cuda" and not cuda.is_available():
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling")
            enabled = False
        if enabled and self.fast_dtype not in _DTYPES:
            warnings.warn(f"In {device_type.upper()} autocast, but the target dtype {self.fast_dtype} is not "
                          "supported (only bfloat16 and float16). Disabling autocast.")
            enabled = False
        self._enabled = enabled
        self._saved = []  # a stack, so one instance may be entered again inside itself

    def __enter__(self):
        self._saved.append((is_autocast_enabled(self.device), get_autocast_dtype(self.device),
                            is_autocast_cache_enabled()))
        set_autocast_enabled(self.device, self._enabled)
        set_autocast_dtype(self.device, self.fast_dtype)
        set_autocast_cache_enabled(self._cache_enabled)
        _local.nesting = getattr(_local, "nesting", 0) + 1
        return self

    def __exit__(self, *exc):
        _local.nesting -= 1
        if _local.nesting == 0:
            clear_autocast_cache()  # cached casts must not outlive the region (the weights change at step())
        enabled, dtype, cache_enabled = self._saved.pop()
        set_autocast_enabled(self.device, enabled)
        set_autocast_dtype(self.device, dtype)
        set_autocast_cache_enabled(cache_enabled)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            # A fresh region per call: one decorated function may run on several threads at once.
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)
        return decorate_autocast


def _cached_cast(t, dtype):
    """The dispatcher's cast of a float32 tensor that requires grad to the region's dtype: a leaf that is
    not a view (a weight) is cast once per region and reused; anything else is cast every time."""
    m = meta(t)
    if m.grad_fn is not None or m.is_view:
        return t.to(dtype)
    # Keyed by the tensor's autograd state (one object per tensor), the dtype, and grad mode: a cast made under
    # no_grad has no history, and reusing it with grad on would lose the weight's gradient (PyTorch's cache
    # does that; cache_enabled=False is its workaround).
    key = (m, dtype, _C._grad_enabled())
    cache = _cache()
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = t.to(dtype)
    return hit


def autocast_op(fn):
    """Marks a function written in Python (nn.functional's layer_norm, losses, attention) as an autocast op:
    its row in policy.POLICIES, under the function's name, says how its tensor arguments are cast, as the
    dispatcher does for native ops. With autocast off the call costs one check."""
    cpu, cuda = policy.policies(fn.__name__)
    mask, call = _C._autocast_mask, _C._autocast_call

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not mask():
            return fn(*args, **kwargs)
        return call(cpu, cuda, fn, args, kwargs)
    wrapper.__autocast_op__ = True
    return wrapper


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorates a custom autograd Function's forward for autocast regions (PyTorch's torch.amp.custom_fwd).

    Without ``cast_inputs`` the forward runs under the region's autocast state and custom_bwd's backward
    runs under the same one. With ``cast_inputs=dtype``, inside a region the forward's floating tensors on
    ``device_type`` are cast to ``dtype`` and it runs with autocast off (for kernels that need one dtype).
    """
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(ctx, *args, **kwargs):
        ctx._dtype = get_autocast_dtype(device_type)
        enabled = is_autocast_enabled(device_type)
        ctx._fwd_used_autocast = enabled and cast_inputs is None
        if cast_inputs is None or not enabled:
            return fwd(ctx, *args, **kwargs)
        with autocast(device_type, enabled=False):
            cast = functools.partial(_cast, device_type=device_type, dtype=cast_inputs)
            return fwd(ctx, *map(cast, args), **{k: cast(v) for k, v in kwargs.items()})
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorates the matching backward: it runs under the autocast state its forward ran under."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(ctx, *args, **kwargs):
        with autocast(device_type, enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return bwd(ctx, *args, **kwargs)
    return decorate_bwd


def _cast(value, device_type, dtype):
    if isinstance(value, _C.TensorBase):
        eligible = value.is_floating_point() and value.dtype != dtypes.float64 and value.device.type == device_type
        return value.to(dtype) if eligible else value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast(v, device_type, dtype) for k, v in value.items()}
    return value


policy.install()
_C._set_autocast_cache_hook(_cached_cast)
