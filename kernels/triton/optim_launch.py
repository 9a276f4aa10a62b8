"""Launching the multi-tensor optimizer kernels (optim.py): device tables of addresses and tile plans, kept
while the tensors stay where they are, and the same launches on CPU tensors through Triton's interpreter
(how the tests run them without a GPU).

Tables reach the GPU without a host sync: a pinned staging buffer (reused once an event says its copy is
done) and an asynchronous copy. Inside a CUDA graph
capture (no host allocation allowed there) changed entries are written by optwrite kernels instead, whose
by-value arguments the graph replays.
"""
import math

from ... import _C
from .optim import BLOCK, FINISH_BLOCK, NORM_ORDS, WRITE_ENTRIES, tile_plan


def launch(key, grid, args, device):
    """args: ("ptr", tensor) or ("i32" | "i64" | "f32", value). CUDA: the registered kernel on the current
    stream of the tensors' device; CPU: the interpreter."""
    if grid == 0:
        return None
    if device.type == "cpu":
        return _interpret(key, grid, args)
    prev = _C._cuda.current_device()
    if prev != device.index:
        _C._cuda.set_device(device.index)
    try:
        _C._cuda.launch_kernel(key, (grid, 1, 1), [(k, v.data_ptr() if k == "ptr" else v) for k, v in args])
    finally:
        if prev != device.index:
            _C._cuda.set_device(prev)


def _interpret(key, grid, args):
    import numpy as np
    import triton.language as tl
    from triton.runtime.interpreter import TensorHandle

    from ..interpret import interpreted, wrap
    from .optim import load
    fn, _, cx = load(key, module_suffix="_interp")

    def arg(kind, v):  # f32 arguments as the float32 scalars a compiled kernel receives
        if kind == "f32":
            return tl.tensor(TensorHandle(np.array([v], dtype=np.float32), tl.float32), tl.float32)
        return wrap(v)
    interpreted(fn)[(grid,)](*[arg(k, v) for k, v in args], **cx)


_preloaded = set()


def preload(key, device):
    """Compiles and loads a kernel now (CUDA), so a later CUDA graph capture that needs it finds it ready."""
    if device.type == "cuda" and (key, device.index) not in _preloaded:
        _C._cuda.load_kernel(key, device.index)
        _preloaded.add((key, device.index))


def capturing(device):
    return device.type == "cuda" and _C._cuda.is_capturing(device.index)


_staging = []  # (pinned buffer, event after the copy that read it): reused, never freed (that would sync)


def _pinned(nbytes):
    """A pinned buffer no queued copy still reads."""
    for i, (buf, done) in enumerate(_staging):
        if buf.numel() >= nbytes and done.query():
            return _staging.pop(i)[0]
    return _C._cuda.host_mapped(max(nbytes, 1024))


def upload(values, dtype, device):
    """A 1-D tensor of `values` on `device` (at least one element). On CUDA: through a pinned buffer and an
    asynchronous copy, so nothing waits for the device."""
    if capturing(device):
        raise RuntimeError("the fused optimizer builds its tables before a CUDA graph capture: run one step (a "
                           "warm-up) with the same parameters first")
    n = max(1, len(values))
    if device.type == "cpu":
        return _fill(_C._ops.empty([n], dtype=dtype), values)
    buf = _pinned(n * dtype.itemsize)
    host = _fill(buf.narrow(0, 0, n * dtype.itemsize).view(dtype), values)
    out = _C._ops.empty([n], dtype=dtype, device=device)
    _C._ops.copy_(out, host, non_blocking=True)
    done = _C._cuda.Event()
    done.record(_C._cuda.current_stream(device.index))
    _staging.append((buf, done))
    return out


def _fill(t, values):
    t.numpy()[:len(values)] = values
    return t


class Tables:
    """The tables of one launch group: the tile plan (rebuilt when the tensors' sizes change) and the address
    columns (uploaded again when any address changes: a new parameter set, a replaced storage or gradient)."""

    def __init__(self, device, block=BLOCK):
        self.device, self.block = device, block
        self._numels = self._addresses = self._plan_hold = self._table = None
        self._captured = []  # tables a captured graph reads: alive as long as these tables, whatever replaces them
        preload(f"optwrite|{WRITE_ENTRIES}", device)  # used inside captures, where nothing may be compiled

    def plan(self, numels):
        """(numels, first_tile, tile_tensor) tensors and the program count for these tensor sizes (None: the
        caller knows they are as last time)."""
        numels = self._numels if numels is None and self._numels is not None else tuple(numels)
        if numels != self._numels:
            first, owner = tile_plan(numels, self.block)
            n = len(numels)
            self._plan_hold = (upload(list(numels), _C.int64, self.device), upload(first + owner, _C.int32,
                                                                                   self.device))
            numel_table, plan = self._plan_hold
            self._plan = (numel_table, plan.narrow(0, 0, n), plan.narrow(0, n, max(1, len(owner))), len(owner))
            self._numels = numels
        return self._plan

    def columns(self, columns, unchanged=False):
        """One address-table view per column (a list of tensors, or of None for an unused column). unchanged:
        the caller knows every address is as last time (the host then skips reading them)."""
        if (unchanged and self._addresses is not None and len(self._addresses) == sum(map(len, columns))
                and not capturing(self.device)):
            return self._views  # (a different count: these tables last served a subset of the tensors)
        n = len(columns[0])
        addresses = [0 if t is None else t.data_ptr() for col in columns for t in col]
        if addresses != self._addresses:
            if capturing(self.device) and self._addresses is not None and len(addresses) == len(self._addresses):
                self._table = self._rewrite(addresses)
            else:
                self._table = upload(addresses, _C.int64, self.device)
            self._addresses = addresses
        self._views = [self._table.narrow(0, i * n, n) for i in range(len(columns))]
        if capturing(self.device):
            self._captured.append((self._plan_hold, self._table))
        return self._views

    def _rewrite(self, addresses):
        """A copy of the table (graph memory) with the changed entries written by kernels the graph replays."""
        self._captured.append(self._table)  # the source of the graph's copy
        table = self._table.clone()
        start = -WRITE_ENTRIES
        for i, (a, b) in enumerate(zip(addresses, self._addresses)):
            if a != b and i >= start + WRITE_ENTRIES:  # a window of WRITE_ENTRIES entries from here
                start = i
                vals = addresses[i:i + WRITE_ENTRIES]
                padded = vals + [0] * (WRITE_ENTRIES - len(vals))
                launch(f"optwrite|{WRITE_ENTRIES}", 1, [("ptr", table), ("i32", i), ("i32", len(vals)),
                                                         *[("i64", v) for v in padded]], self.device)
        return table


def _tiled(tables, tensors, unchanged=False):
    same = unchanged and tables._numels is not None and len(tables._numels) == len(tensors)
    numels, first, owner, tiles = tables.plan(None if same else [t.numel() for t in tensors])
    return [("ptr", numels), ("ptr", first), ("ptr", owner)], tiles


def adam(tables, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1, beta2, eps,
         weight_decay, decoupled, amsgrad, maximize, host_step, unchanged=False):
    """One fused Adam/AdamW step over tensors of one device and dtype (states of one dtype; steps: float32
    0-dim tensors). host_step: the step count every tensor reaches now, for host bias corrections; None: each
    step tensor is incremented and read on the device (capturable). unchanged: every tensor is where it was
    last time on these tables."""
    tiled, tiles = _tiled(tables, params, unchanged)
    cols = tables.columns([params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs or [None] * len(params), steps],
                          unchanged)
    if host_step is None:
        launch(f"optstep|{FINISH_BLOCK}", 1, [("ptr", cols[5]), ("i32", len(steps))], tables.device)
        bc1 = bc2_sqrt = new_step = 1.0
    else:
        bc1, bc2_sqrt, new_step = 1 - beta1 ** host_step, math.sqrt(1 - beta2 ** host_step), float(host_step)
    flags = "".join(f for f, on in (("l", weight_decay != 0 and not decoupled), ("w", weight_decay != 0 and decoupled),
                                    ("a", amsgrad), ("m", maximize)) if on)
    base = f"optadam|{params[0].dtype.name}|{exp_avgs[0].dtype.name}|"
    key = f"{base}{(flags + 'c' if host_step is None else flags) or '-'}|{tables.block}"
    if host_step is not None:  # a capture of this step will take the device-step variant: ready it now
        preload(f"{base}{flags}c|{tables.block}", tables.device)
        preload(f"optstep|{FINISH_BLOCK}", tables.device)
    scalars = (lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt, new_step)
    launch(key, tiles, [*[("ptr", c) for c in cols], *tiled, *[("f32", float(v)) for v in scalars]], tables.device)


def sgd(tables, params, grads, momentum_buffers, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
        first, unchanged=False):
    """One fused SGD step over tensors of one device and dtype. first: the momentum buffers were just
    allocated and take the (decayed) gradient, as PyTorch's first momentum step does."""
    tiled, tiles = _tiled(tables, params, unchanged)
    cols = tables.columns([params, grads, momentum_buffers or [None] * len(params)], unchanged)

    def key(first):
        flags = "".join(f for f, on in (("d", weight_decay != 0), ("u", momentum != 0), ("f", momentum != 0 and first),
                                        ("n", nesterov), ("m", maximize)) if on)
        return f"optsgd|{params[0].dtype.name}|{flags or '-'}|{tables.block}"
    if first:  # the steps after this one (perhaps captured, where nothing may compile) take the other variant
        preload(key(False), tables.device)
    scalars = (lr, momentum, dampening, weight_decay)
    launch(key(first), tiles, [*[("ptr", c) for c in cols], *tiled, *[("f32", float(v)) for v in scalars]],
           tables.device)


def clip_grad_norm(buckets, max_norm, order, device):
    """Scales every gradient by min(1, max_norm / (norm + 1e-6)), norm the joint norm of order 0 (inf), 1 or
    2, all on the device; returns the norm (a float32 0-dim tensor). buckets: (Tables, grads of one dtype)."""
    plans = [_tiled(tables, grads) for tables, grads in buckets]
    total_tiles = sum(tiles for _, tiles in plans)
    partials = _C._ops.empty([max(1, total_tiles)], dtype=_C.float32, device=device)
    cols, offset = [], 0
    for (tables, grads), (tiled, tiles) in zip(buckets, plans):
        cols.append(tables.columns([grads])[0])
        if not tiles:
            continue
        launch(f"optnorm|{grads[0].dtype.name}|{NORM_ORDS[order]}|{tables.block}", tiles,
               [("ptr", cols[-1]), *tiled, ("ptr", partials.narrow(0, offset, max(1, tiles)))], device)
        offset += tiles
    total = _C._ops.empty([], dtype=_C.float32, device=device)
    scale = _C._ops.empty([1], dtype=_C.float32, device=device)
    launch(f"optnormfin|{NORM_ORDS[order]}|{FINISH_BLOCK}", 1,
           [("ptr", partials), ("i32", total_tiles), ("ptr", total), ("ptr", scale), ("f32", float(max_norm))],
           device)
    for (tables, grads), (tiled, tiles), col in zip(buckets, plans, cols):
        launch(f"optscale|{grads[0].dtype.name}|{tables.block}", tiles, [("ptr", col), *tiled, ("ptr", scale)],
               device)
    return total
