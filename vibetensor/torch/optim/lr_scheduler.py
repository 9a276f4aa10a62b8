"""``torch.optim.lr_scheduler`` for vibetensor's schedules (``_LRScheduler`` is PyTorch's older name)."""
from ...optim import lr_scheduler as _lr_scheduler
from .._reexport import reexport

__all__ = reexport(_lr_scheduler, globals())
_LRScheduler = _lr_scheduler.LRScheduler
