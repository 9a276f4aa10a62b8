"""LocalGroup's fast path: a peer-memory collective issued again on tensors like the last ones, in one call.

One process driving 4 GPUs spent 60-160 us of host time on a small collective from Python (4 x H200: an event
record and a stream wait per member or GPU, a launch per member, each a driver call behind a Python wrapper and a
device switch), where NCCL's one-process API issued in 30-50. The general path describes its stream protocol as
steps (local_streams: peer_steps, direct_steps) and its body as prepared launches; a LaunchPlan
(csrc/cuda/launch_plan.h) keeps both and issues them again from the new tensors' addresses in one native call,
checking there that the tensors are like the planned ones (GPU, dtype, shape, contiguous, 16-byte aligned).
"""
from ... import _C


def build(devs, tensors, steps, body):
    """A LaunchPlan of `steps` whose ("call", "body") step is `body`, [(stream, prepared launch, bases)] with bases
    indexing `tensors` (what the plan is called with, in order), and whose other calls have nothing to do (the
    caller plans only contiguous tensors and no averaging: no copies in or out, no division)."""
    plan = _C._cuda.LaunchPlan([(t.device.index, t.dtype, list(t.shape)) for t in tensors])
    streams, events = {}, {}

    def stream(ref):
        if ref not in streams:
            kind, i = ref
            fixed = devs[i].stream if kind == "member" else None
            streams[ref] = plan.stream(fixed and fixed._s, i if fixed is None else devs[i].device.index)
        return streams[ref]

    def event(key):
        if key not in events:
            events[key] = plan.event()
        return events[key]

    for step in steps:
        if step[0] == "record":
            plan.record(event(step[1]), stream(step[2]))
        elif step[0] == "wait":
            plan.wait(stream(step[1]), event(step[2]))
        elif step[1] == "body":
            for ref, launch, bases in body:
                plan.launch(stream(ref), launch, bases)
    return plan
