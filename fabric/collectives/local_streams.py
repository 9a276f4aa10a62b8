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


def enter(devs, event):
    """Before a collective: each member stream waits for the caller's current stream on its GPU (which
    produced the inputs). event(key): the caller's reusable event for ("ready", GPU), recorded again on each
    call (the waits are issued at once, so a later record cannot reach them)."""
    cuda = [d for d in devs if d.is_cuda]
    if cuda:
        issue(enter_steps(cuda), cuda, event)


# ---- steps: a collective's stream protocol as data -----------------------------------------------------------
# ("record", event key, stream), ("wait", stream, event key) or ("call", name): a stream is current(gpu), the
# caller's current stream of that GPU at the time, or member(r), the r-th device's own; "call" steps are the
# caller's work between them (its kernels: "body"). issue() runs steps now; a LaunchPlan keeps them with the
# body's launches, for a collective repeated on tensors like the last ones (local_plan.py).
def current(gpu):
    return ("current", gpu)


def member(r):
    return ("member", r)


def enter_steps(devs):
    """ls.enter's: every member stream waits for its GPU's current stream."""
    ready = [("record", ("ready", i), current(i)) for i in physical(devs)]
    return ready + [("wait", member(r), ("ready", d.device.index)) for r, d in enumerate(devs)]


def peer_steps(devs, one_launch=False):
    """(issue, join) of a peer-memory collective (members on GPUs). issue: enter; "flats" (contiguous copies of the
    inputs, on the members' streams); "body": each member's program on its own stream (one_launch: every member's in
    one launch on the first member's stream, ordered as if each ran its own part); "write back" (results into
    non-contiguous tensors); each member's final mark. join (now, or at an async Work's wait): the caller's current
    stream of each GPU waits for its members' marks (their programs end only when no peer reads their buffers any
    more, and a member's stream is the last to touch its tensors)."""
    steps = enter_steps(devs) + [("call", "flats")]
    if one_launch:
        steps += [step for r in range(1, len(devs))
                  for step in (("record", ("member", r), member(r)), ("wait", member(0), ("member", r)))]
        steps += [("call", "body"), ("record", ("one launch", 0), member(0))]
        steps += [("wait", member(r), ("one launch", 0)) for r in range(1, len(devs))]
    else:
        steps.append(("call", "body"))
    steps += [("call", "write back")] + [("record", ("done", r), member(r)) for r in range(len(devs))]
    return steps, [("wait", current(d.device.index), ("done", r)) for r, d in enumerate(devs)]


def direct_steps(devs):
    """A kernel on the first member's GPU's current stream that reads and writes every member's tensor (the direct
    all-reduce): after every stream that may have made the inputs (each member's own, each GPU's current one),
    before all of them. Calls: "flats" (contiguous copies, on the GPUs' current streams), "body", "write back"."""
    gpus, first = physical(devs), devs[0].device.index
    steps = [step for r, d in enumerate(devs)
             for step in (("record", ("direct member", r), member(r)), ("wait", current(d.device.index),
                                                                         ("direct member", r)))]
    steps.append(("call", "flats"))
    steps += [step for i in gpus if i != first
              for step in (("record", ("direct gpu", i), current(i)), ("wait", current(first), ("direct gpu", i)))]
    steps += [("call", "body"), ("record", ("direct done", 0), current(first))]
    steps += [("wait", current(i), ("direct done", 0)) for i in gpus if i != first]
    steps.append(("call", "write back"))
    return steps + [step for r, d in enumerate(devs)
                    for step in (("record", ("direct out", r), current(d.device.index)),
                                 ("wait", member(r), ("direct out", r)))]


def issue(steps, devs, event, calls=None):
    """Runs steps now: event(key) gives the reusable event of a key, calls[name]() a call step's work (a call not
    given has none: a plan keeps only collectives whose other calls would do nothing)."""
    for step in steps:
        if step[0] == "record":
            _stream(devs, step[2]).record_event(event(step[1]))
        elif step[0] == "wait":
            _stream(devs, step[1]).wait_event(event(step[2]))
        elif calls and step[1] in calls:
            calls[step[1]]()


def _stream(devs, ref):
    return current_stream(ref[1]) if ref[0] == "current" else devs[ref[1]].stream


def join_members(devs):
    """All member streams wait for each other (the end of a collective: scratch buffers and peers' reads
    are done before anyone reuses memory). Returns the final marks."""
    marks = [mark(d) for d in devs]
    for d in devs:
        wait(d, marks)
    return [mark(d) for d in devs]


def join_current(devs, marks):
    """The caller's current stream on every GPU involved waits for all of the collective's final marks."""
    cuda = [(d, m) for d, m in zip(devs, marks) if d.is_cuda]
    for i in physical([d for d, _ in cuda]):
        cur = current_stream(i)
        for _, m in cuda:
            cur.wait_event(m)


def fetch(src, dev):
    """`src` readable by dev's kernels: the same tensor on the same physical device (CPU slots, virtual GPUs
    of one card); a peer copy onto dev's GPU otherwise."""
    if src.device == dev.device:
        return src
    return src.to(dev.device, non_blocking=True)

