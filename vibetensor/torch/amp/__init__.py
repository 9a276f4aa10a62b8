"""``torch.amp`` for vibetensor: vibetensor.amp (autocast, GradScaler) under PyTorch's names.

>>> import vibetensor.torch as torch
>>> with torch.amp.autocast("cpu", dtype=torch.bfloat16):
...     y = torch.ones(2, 2) @ torch.ones(2, 2)
>>> y.dtype
vibetensor.bfloat16
"""
from ...amp import *  # noqa: F401,F403
from ...amp import __all__  # noqa: F401
