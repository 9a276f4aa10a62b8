"""``torch.cuda.amp``: PyTorch's older spelling of torch.amp with the device fixed to CUDA."""
from ...amp import GradScaler as _GradScaler
from ...amp import autocast as _autocast
from ...tensor_core import dtypes as _dtypes


class autocast(_autocast):  # noqa: N801 - PyTorch's name
    """``torch.cuda.amp.autocast(...)`` is ``torch.autocast("cuda", ...)``."""

    def __init__(self, enabled=True, dtype=_dtypes.float16, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """``torch.cuda.amp.GradScaler(...)`` is ``torch.amp.GradScaler("cuda", ...)``."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


__all__ = ["autocast", "GradScaler"]
