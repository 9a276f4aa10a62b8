"""The gradient reducer behind DataParallel: buckets, readiness, async all_reduce, write-back.

Parameters are packed, in reverse registration order (roughly the order backward produces their gradients),
into buckets of about `bucket_cap_mb` with one dtype and device each. A post-accumulate-grad hook copies a
gradient into its bucket's flat buffer; once every parameter of a bucket is ready the bucket's all_reduce
(average) is launched asynchronously, so it runs while backward computes the gradients of earlier layers.
Buckets are launched strictly in index order (a ready bucket waits for its predecessors): collectives are
matched by order across ranks, and gradient timing may differ between ranks.

Each flat buffer has one extra element per parameter: 1 where this rank has a gradient for it. Averaged with
the gradients, it tells every rank whether anyone had one, so a parameter unused everywhere keeps grad None
(as in PyTorch), while one used elsewhere gets the average with this rank's zero contribution.

Parameters the forward's autograd graph does not reach are ready from the start (found by walking the graph
from the outputs, PyTorch's find_unused_parameters). The first gradient of an iteration queues an
end-of-backward callback with the autograd engine: when backward finishes it waits for every bucket's Work
and writes the averaged gradients back into `.grad` (or names the expected parameters that got none).
"""
from ..autograd.engine import queue_callback
from ..autograd.graph import AccumulateGrad, meta
from ..tensor_core.factories import tensor
from .collectives.api import ReduceOp

_FIRST_BUCKET_BYTES = 1 << 20  # as PyTorch: a small first bucket starts communication early


class _Bucket:
    def __init__(self, index, dtype, device):
        self.index, self.dtype, self.device = index, dtype, device
        self.members = []  # parameter indices
        self.offsets = []  # element offset of each member in `flat`
        self.numel = 0
        self.flat = None
        self.work = None
        self.remaining = 0
        self.all_local = False  # this rank had a gradient for every member in the current iteration

    def finish_layout(self, zeros):
        # the used-flags live after the gradients, one per member
        self.flat = zeros(self.numel + len(self.members), self.dtype, self.device)


def assign_buckets(params, cap_bytes, first_cap_bytes=_FIRST_BUCKET_BYTES):
    """Deterministic bucket layout (the same on every rank): reverse order, grouped by (dtype, device).
    Returns [_Bucket] in launch order and, per parameter index, (bucket, position in bucket)."""
    buckets, open_by_key, where = [], {}, {}
    for i in reversed(range(len(params))):
        p = params[i]
        key = (p.dtype, str(p.device))
        b = open_by_key.get(key)
        if b is not None:
            cap = min(first_cap_bytes, cap_bytes) if b.index == 0 else cap_bytes
            if (b.numel + p.numel()) * p.element_size() > cap:
                b = None  # full: a new bucket (a parameter larger than the cap gets one of its own)
        if b is None:
            b = _Bucket(len(buckets), p.dtype, p.device)
            buckets.append(b)
            open_by_key[key] = b
        where[i] = (b, len(b.members))
        b.members.append(i)
        b.offsets.append(b.numel)
        b.numel += p.numel()
    return buckets, where


def reachable_leaves(outputs):
    """AutogradMeta ids of the leaves the graph of `outputs` (nested tuples/lists/dicts of tensors) reaches."""
    from .. import _C
    stack, seen, leaves = [], set(), set()

    def collect(o):
        if isinstance(o, _C.TensorBase):
            m = meta(o, create=False)
            if m is not None and m.grad_fn is not None:
                stack.append(m.grad_fn)
            elif o._requires_grad:
                leaves.add(id(meta(o)))
        elif isinstance(o, dict):
            for v in o.values():
                collect(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                collect(v)
    collect(outputs)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad):
            leaves.add(id(meta(node.variable)))
        for edge in node.next_functions:
            if edge is not None:
                stack.append(edge[0])
    return leaves


class Reducer:
    def __init__(self, params, group, bucket_cap_mb, names=None):
        from .. import _C
        self.params, self.group = params, group
        self.names = names or [f"parameter {i}" for i in range(len(params))]
        self.buckets, self.where = assign_buckets(params, int(bucket_cap_mb * (1 << 20)))
        zeros = lambda n, dtype, device: _C._ops.zeros((n,), dtype=dtype, device=device)  # noqa: E731
        for b in self.buckets:
            b.finish_layout(zeros)
        self._ready = [False] * len(params)
        self._expected = None  # None: no reduction prepared (outside DataParallel's forward, or no_sync)
        self._next = 0
        self._grads_seen = 0
        self.launch_log = []  # per launched bucket of the last iteration: (bucket, gradients ready at launch)
        self._handles = [p.register_post_accumulate_grad_hook(self._make_hook(i)) for i, p in enumerate(params)]

    # ---- per iteration ------------------------------------------------------------------------------
    def prepare(self, outputs, find_unused):
        """Called by forward (with gradient sync on): the next backward reduces. Without find_unused every
        parameter is expected to get a gradient."""
        if self._expected is not None and self._grads_seen:
            missing = [self.names[i] for i, r in enumerate(self._ready) if not r]
            raise RuntimeError("DataParallel: the previous iteration's gradient reduction did not finish (backward "
                               f"was interrupted, or these parameters got no gradient: {', '.join(missing[:8])}"
                               f"{'...' if len(missing) > 8 else ''}); with find_unused_parameters=False every "
                               "parameter must take part in the loss")
        self._reset()
        used = reachable_leaves(outputs) if find_unused else None
        self._expected = [used is None or id(meta(p)) in used for p in self.params]
        for b in self.buckets:
            b.remaining = sum(self._expected[i] for i in b.members)
        if not any(self._expected):
            self._expected = None  # nothing will call a hook: no reduction this iteration

    def _reset(self):
        self._ready = [False] * len(self.params)
        self._expected, self._next, self._grads_seen = None, 0, 0
        self.launch_log = []
        for b in self.buckets:
            b.work = None

    def _make_hook(self, i):
        def hook(_leaf):
            if self._expected is not None:
                self._mark_ready(i)
        return hook

    def _mark_ready(self, i):
        if not self._expected[i]:
            raise RuntimeError(f"DataParallel: {self.names[i]} got a gradient but the forward's graph did not reach "
                               "it (used outside the wrapped module's forward?)")
        if self._ready[i]:
            raise RuntimeError(f"DataParallel: {self.names[i]} got a gradient twice in one iteration (backward run "
                               "twice on one forward? use no_sync() for all but the last)")
        self._ready[i] = True
        if self._grads_seen == 0:  # the first gradient of the iteration: finish when this backward ends
            queue_callback(self._end_of_backward)
        self._grads_seen += 1
        b, k = self.where[i]
        self._view(b, k).copy_(self.params[i].grad.reshape(-1))
        b.remaining -= 1
        while self._next < len(self.buckets) and self.buckets[self._next].remaining == 0:
            self._launch(self.buckets[self._next])
            self._next += 1

    def _end_of_backward(self):
        """The engine's end-of-backward callback: every bucket must have been launched by now; wait for them
        and write the averages back. A bucket still waiting for a gradient means an expected parameter got
        none in this backward: an error now, naming them (its peers would otherwise wait for that bucket)."""
        if self._expected is None:
            return
        if self._next < len(self.buckets):
            missing = [self.names[i] for i, (e, r) in enumerate(zip(self._expected, self._ready)) if e and not r]
            self._expected = None
            raise RuntimeError("DataParallel: backward finished but these parameters got no gradient: "
                               f"{', '.join(missing[:8])}{'...' if len(missing) > 8 else ''}; pass "
                               "find_unused_parameters=True if the forward does not use every parameter")
        self._finish()

    def _view(self, b, k):
        i = b.members[k]
        return b.flat[b.offsets[k]:b.offsets[k] + self.params[i].numel()]

    def _launch(self, b):
        flags = []
        for k, i in enumerate(b.members):
            if self._ready[i]:
                flags.append(1)
            elif self.params[i].grad is not None:  # not reached this time, but accumulated under no_sync
                self._view(b, k).copy_(self.params[i].grad.reshape(-1))
                flags.append(1)
            else:
                self._view(b, k).zero_()
                flags.append(0)
        b.all_local = all(flags)
        if b.all_local:  # the usual case: one fill, no host data (a host-to-device copy waits for the stream:
            b.flat[b.numel:].fill_(1)  # on a GPU that would stall the host mid-backward, once per bucket)
        else:  # one small copy per bucket, not one fill per parameter (each would be a kernel launch on a GPU)
            b.flat[b.numel:].copy_(tensor(flags, dtype=b.dtype, device=b.device))
        self.launch_log.append((b.index, self._grads_seen))
        b.work = self.group.all_reduce(b.flat, ReduceOp.AVG, async_op=True)

    def _finish(self):
        """Waits for every bucket (in launch order) and writes the averages back into .grad."""
        try:
            for b in self.buckets:
                b.work.wait()
        finally:
            self._expected = None  # a failed wait leaves no half-done iteration behind
        for b in self.buckets:
            # Every averaged flag is > 0 where this rank had the gradient itself: only a bucket with a member
            # this rank lacked needs them read back (a device sync per bucket on a GPU).
            flags = [1] * len(b.members) if b.all_local else b.flat[b.numel:].tolist()
            for k, i in enumerate(b.members):
                if flags[k] == 0:
                    continue  # no rank had a gradient for it: .grad stays as it is (None)
                p, avg = self.params[i], self._view(b, k).view(tuple(self.params[i].shape))
                if p.grad is None:
                    p.grad = avg.clone()
                else:
                    p.grad.copy_(avg)

    def remove(self):
        for h in self._handles:
            h.remove()
        self._handles = []
