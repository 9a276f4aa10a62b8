"""vt.amp: automatic mixed precision (PyTorch's torch.amp).

``autocast`` runs each op of a region in the precision its kind suits (policy.py is the table);
``GradScaler`` scales float16 losses so small gradients survive. The bfloat16 recipe needs no scaler:
keep the parameters float32 (they are the master weights) and run the forward pass and the loss under
``vt.autocast(device_type, dtype=vt.bfloat16)``; gradients arrive in float32 and any vt.optim optimizer
steps the float32 weights.
"""
from .autocast_mode import (autocast, clear_autocast_cache, custom_bwd, custom_fwd,  # noqa: F401
                            get_autocast_dtype, is_autocast_available, is_autocast_cache_enabled,
                            is_autocast_enabled, set_autocast_cache_enabled, set_autocast_dtype,
                            set_autocast_enabled)
from .grad_scaler import GradScaler  # noqa: F401

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd", "is_autocast_available", "is_autocast_enabled",
           "set_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype", "is_autocast_cache_enabled",
           "set_autocast_cache_enabled", "clear_autocast_cache"]
