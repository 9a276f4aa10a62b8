"""Sync between the devices one process drives: barriers, cross-device waits, and peer reads.

On virtual CPU slots work already runs in program order, so these record what happened (fabric.observe)
and move nothing; on GPUs they are stream waits on events (the host never blocks) and peer reads: a
virtual device reads another one's memory directly (same GPU), a real GPU reads its peer's through a
peer copy onto its own card.
"""
import time

from . import observe
from .collectives import local_streams as ls
from .collectives.local_devices import as_devices


def barrier(devices):
    """Every device's stream waits for the work every other device has issued so far."""
    devs = as_devices(devices)
    t0 = time.perf_counter()
    ls.join_members(devs)
    observe.record("barrier", group="sync", seconds=time.perf_counter() - t0, detail=f"{len(devs)} devices")


def wait_for(device, peer):
    """`device`'s stream waits for the work `peer` has issued so far (an event, not a host block)."""
    ls.wait(device, (ls.mark(peer),))


def _peer_read(kind, device, peer, b):
    if peer is not device:
        wait_for(device, peer)
    src = ls.fetch(b, device)
    path = "local" if src is b else "peer_copy"
    nbytes = b.numel() * b.element_size()
    observe.record(kind, group="sync", algorithm=path, nbytes=nbytes, links={(str(peer), str(device)): nbytes})
    return src


def peer_copy(b, *, device, peer):
    """A copy of `b` (owned by `peer`) on `device`, issued on device's stream after peer's work so far."""
    with ls.on(device):
        src = _peer_read("peer_copy", device, peer, b)
        out = src.clone() if src is b else src
    return _handed_back(device, out)


def _handed_back(device, out):
    # The caller's current stream waits for device's stream, so reading the result anywhere is safe.
    ls.join_current([device], [ls.mark(device)])
    return out


def peer_add(a, b, *, device, peer):
    """a + b computed on `device` (which owns a), reading b straight from `peer` (which owns b):
    device's stream first waits for peer's, so b is complete when read, and the caller's stream waits
    for the result; nothing blocks the host."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"peer_add: shapes differ: {list(a.shape)} on {device} and {list(b.shape)} on {peer}")
    if a.device != device.device:
        raise ValueError(f"peer_add: a is on {a.device}, but device {device} is on {device.device}")
    with ls.on(device):
        out = a + _peer_read("peer_add", device, peer, b)
    return _handed_back(device, out)
