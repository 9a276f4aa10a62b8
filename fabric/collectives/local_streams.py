"""Stream ordering for one process driving several devices.

Every step of a schedule runs on the *receiving* device's stream; instead of blocking the host, a step
first makes its stream wait on events the other streams recorded. On CPU slots everything runs in program
order, so marks are None and waits do nothing: the same schedule code serves both.
"""
import contextlib

_tcuda = None


def _cuda():
    global _tcuda
    if _tcuda is None:  # imported on first use (a cycle at import time), then kept: a lookup per rank and call
        from ...tensor_core import cuda
        _tcuda = cuda
    return _tcuda


def on(dev):
    """Context: issue work on dev's stream (CPU: nothing)."""
    return on_stream(dev.stream) if dev.is_cuda else contextlib.nullcontext()


def current_stream(index):
    return _cuda().current_stream(index)


def on_stream(stream):
    """Context: issue work on `stream` (a vibetensor.cuda.Stream) and its device."""
    return _cuda().stream(stream)


def new_event():
    return _cuda().Event()


def mark(dev, event=None):
    """An event at the current end of dev's stream (None on CPU): `event` recorded again, or a new one."""
    if not dev.is_cuda:
        return None
    return dev.stream.record_event(event)


def wait(dev, events):
    """dev's stream waits for `events` (None entries, and CPU devices, need nothing)."""
    if dev.is_cuda:
        for e in events:
            if e is not None:
                dev.stream.wait_event(e)


def physical(devs):
    """The GPU indices of devs' CUDA members, sorted."""
    return sorted({d.device.index for d in devs if d.is_cuda})


def enter(devs, event=None):
    """Before a collective: each member stream waits for the caller's current stream on its GPU (which
    produced the inputs). event(key): the caller's reusable event for ("ready", GPU), recorded again on each
    call (the waits are issued at once, so a later record cannot reach them); None: new events."""
    cuda = [d for d in devs if d.is_cuda]
    if not cuda:
        return
    ready = {i: current_stream(i).record_event(event(("ready", i)) if event else None)
             for i in physical(cuda)}
    for d in cuda:
        d.stream.wait_event(ready[d.device.index])


def join_members(devs):
    """All member streams wait for each other (the end of a collective: scratch buffers and peers' reads
    are done before anyone reuses memory). Returns the final marks."""
    marks = [mark(d) for d in devs]
    for d in devs:
        wait(d, marks)
    return [mark(d) for d in devs]


def join_current(devs, marks, same_gpu_only=False):
    """The caller's current stream on every GPU involved waits for the collective's final marks: all of them,
    or (same_gpu_only) those of the members on its GPU, where no other member touches their tensors."""
    cuda = [(d, m) for d, m in zip(devs, marks) if d.is_cuda]
    for i in physical([d for d, _ in cuda]):
        cur = current_stream(i)
        for d, m in cuda:
            if not same_gpu_only or d.device.index == i:
                cur.wait_event(m)


def fetch(src, dev):
    """`src` readable by dev's kernels: the same tensor on the same physical device (CPU slots, virtual GPUs
    of one card); a peer copy onto dev's GPU otherwise."""
    if src.device == dev.device:
        return src
    return src.to(dev.device, non_blocking=True)

