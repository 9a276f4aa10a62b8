"""vt.fabric.DataParallel: data-parallel training over a process group, PyTorch DDP's model.

Every rank holds a replica. At construction rank 0's parameters and buffers are broadcast; during backward the
gradients are averaged across ranks in buckets launched as soon as they are ready (data_parallel_reducer.py),
so communication overlaps the rest of backward; when backward returns, `.grad` holds the average, and every
replica takes the same optimiser step. With a world of one it only forwards.

>>> import vibetensor as vt
>>> model = vt.fabric.DataParallel(vt.nn.Linear(4, 2))  # the world of vt.fabric.init(); here, a world of one
>>> opt = vt.optim.SGD(model.parameters(), lr=0.1)
>>> model(vt.randn(8, 4)).pow(2).mean().backward(); opt.step(); opt.zero_grad()
>>> model.world_size, list(model.state_dict())
(1, ['weight', 'bias'])
"""
import contextlib

from ..autograd import is_grad_enabled, no_grad
from ..nn.module import Module
from .data_parallel_reducer import Reducer
from .init import get_group, is_initialized


class DataParallel(Module):
    """Wraps `module`. group: the process group (default: the world of vt.fabric.init(), or a world of one
    when it was not called). find_unused_parameters: walk each forward's graph so parameters it does not
    use don't stall their bucket (costs a graph walk per forward; off, every parameter must get a gradient).
    broadcast_buffers: rank 0's buffers (e.g. running statistics) are broadcast before every forward."""

    def __init__(self, module, group=None, bucket_cap_mb=25, broadcast_buffers=True, find_unused_parameters=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: expected a vt.nn.Module, got {type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        if group is None and is_initialized():
            group = get_group()
        self.group = group
        self.world_size = 1 if group is None else group.size
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self._sync = True
        self.reducer = None
        if self.world_size > 1:
            broadcast_coalesced(group, list(module.parameters()) + list(module.buffers()))
            named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
            self.reducer = Reducer([p for _, p in named], group, bucket_cap_mb, names=[n for n, _ in named])

    def forward(self, *args, **kwargs):
        if self.reducer is not None and self.broadcast_buffers:
            buffers = list(self.module.buffers())
            if buffers:
                broadcast_coalesced(self.group, buffers)
        out = self.module(*args, **kwargs)
        if self.reducer is not None and self._sync and is_grad_enabled():
            self.reducer.prepare(out, self.find_unused_parameters)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally; the first backward after it averages the sum.
        What counts is where forward ran (as in PyTorch): forward inside, backward outside does not sync."""
        old, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = old

    # The wrapper adds no state of its own: checkpoints of a wrapped and an unwrapped model are interchangeable
    # (no "module." prefix).
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        return self.module.state_dict(destination, prefix, keep_vars)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return self.module.load_state_dict(state_dict, strict, assign)

    def extra_repr(self):
        return f"world_size={self.world_size}"


def broadcast_coalesced(group, tensors, src=0):
    """Broadcasts `tensors` from rank `src` in place, one collective per dtype/device (packed into a flat
    buffer), so construction costs a few collectives, not one per parameter."""
    from .. import _C
    by_key = {}
    for t in tensors:
        by_key.setdefault((t.dtype, str(t.device)), []).append(t)
    with no_grad():
        for ts in by_key.values():
            flat = _C._ops.zeros((sum(t.numel() for t in ts),), dtype=ts[0].dtype, device=ts[0].device)
            views, off = [], 0
            for t in ts:
                views.append(flat[off:off + t.numel()].view(tuple(t.shape)))
                off += t.numel()
            if group.rank == src:
                for v, t in zip(views, ts):
                    v.copy_(t)
            group.broadcast(flat, src=src)
            for v, t in zip(views, ts):
                t.detach().copy_(v)
