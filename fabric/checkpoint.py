"""Rank-0 checkpointing for data-parallel jobs, on top of vibetensor.checkpoint (one safetensors file).

Replicas are identical after each step, so only rank 0 writes (atomically: vibetensor.checkpoint's writer goes
through a temporary file and a rename); then rank 0 broadcasts the outcome, so every rank leaves save_checkpoint
only once the file is complete (or raises if rank 0 failed). Every rank loads the same file. A DataParallel
model is saved as the module it wraps, so wrapped and unwrapped models share checkpoints.

>>> import vibetensor as vt, tempfile, os
>>> m = vt.nn.Linear(2, 2); opt = vt.optim.AdamW(m.parameters())
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> vt.fabric.save_checkpoint(path, m, opt, step=10, extra={"epoch": 1})
>>> vt.fabric.load_checkpoint(path, m, opt)
(10, {'epoch': 1})
"""
from .. import checkpoint as _checkpoint
from .init import get_group, is_initialized


def _group(group):
    if group is None and is_initialized():
        group = get_group()
    return group


def save_checkpoint(path, model, optimizer=None, step=0, extra=None, group=None):
    """Writes model (+ optimizer) state, `step` and the JSON-able `extra` to `path` (rank 0 only); every rank
    of the group calls it and returns once the file is in place."""
    from .. import _C
    group = _group(group)
    error = None
    if group is None or group.rank == 0:
        try:
            _checkpoint.save(path, model=model, optimizer=optimizer, extra={"step": int(step), "extra": extra})
        except Exception as e:  # noqa: BLE001 - re-raised below, after the others heard of it
            error = e
    if group is not None and group.size > 1:
        # rank 0 tells the others whether the file is in place (a barrier that also carries the outcome)
        device = next((p.device for p in model.parameters()), "cpu")  # where the group's transport works
        ok = _C._ops.full((1,), 0.0 if error else 1.0, dtype=_C.float32, device=device)
        group.broadcast(ok, src=0)
        if group.rank != 0 and ok.item() != 1.0:
            raise RuntimeError(f"save_checkpoint: rank 0 failed to write {path}")
    if error is not None:
        raise error


def load_checkpoint(path, model, optimizer=None, strict=True):
    """Restores `model` (+ `optimizer`) from `path` on this rank; returns (step, extra)."""
    saved = _checkpoint.load(path, model=model, optimizer=optimizer, strict=strict)
    return saved.get("step", 0), saved.get("extra")
