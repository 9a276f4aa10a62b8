"""The collective API every transport implements (the contract between fabric's layers).

One Group per participant *process*. A group whose process drives one device (the torchrun model) takes one
tensor per call; a group whose process drives several devices (virtual devices, or several GPUs from one
process) takes a list with one tensor per device it drives, in `group.devices` order. Everything else is
the same: names, in-place semantics (like torch.distributed: all_reduce and broadcast write their argument),
async variants, timeouts and errors.

Shapes: reduce_scatter's input is `size` chunks of the output along dim 0; all_gather's output is `size`
inputs along dim 0; all_to_all splits input and output into `size` equal chunks along dim 0 (chunk j of
rank i's input becomes chunk i of rank j's output).
"""
import enum

from ... import config


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"

    @classmethod
    def of(cls, op):
        if isinstance(op, cls):
            return op
        try:
            return cls(str(op).lower())
        except ValueError:
            raise ValueError(f"unknown reduce op {op!r}; expected one of {[o.value for o in cls]}") from None


class CollectiveError(RuntimeError):
    """A collective could not complete (bad arguments across ranks, a transport failure)."""


class RankFailure(CollectiveError):
    """A peer died or did not arrive in time: names the collective, the rank(s) and why."""

    def __init__(self, collective, ranks, reason):
        self.collective, self.ranks, self.reason = collective, tuple(ranks), reason
        who = ", ".join(str(r) for r in self.ranks)
        super().__init__(f"{collective}: rank{'s' if len(self.ranks) > 1 else ''} {who} {reason}")

    def __reduce__(self):  # picklable, so a rank's failure can be reported to another process
        return type(self), (self.collective, self.ranks, self.reason)


def default_timeout():
    """Seconds a rank waits for its peers before raising RankFailure (VIBETENSOR_FABRIC_TIMEOUT, default 60)."""
    return config.get("VIBETENSOR_FABRIC_TIMEOUT")


class Work:
    """An async collective's handle. wait() returns the result (the output tensor(s)) or raises its error."""

    def __init__(self, run=None, result=None, error=None):
        self._run, self._result, self._error, self._done = run, result, error, run is None

    def wait(self, timeout=None):
        if not self._done:
            try:
                self._result = self._run()
            except BaseException as e:  # kept: a second wait() raises the same error
                self._error = e
            self._done, self._run = True, None
        if self._error is not None:
            raise self._error
        return self._result

    def is_completed(self):
        return self._done


class Group:
    """Base class of the transports' groups. Subclasses implement the collectives; `_finish` wraps a result
    into the sync/async form the caller asked for."""

    rank: int
    size: int
    devices: list
    timeout: float

    def all_reduce(self, tensor, op=ReduceOp.SUM, async_op=False, algorithm="auto"):
        raise NotImplementedError

    def reduce_scatter(self, output, input, op=ReduceOp.SUM, async_op=False):
        raise NotImplementedError

    def all_gather(self, output, input, async_op=False):
        raise NotImplementedError

    def broadcast(self, tensor, src=0, async_op=False):
        raise NotImplementedError

    def all_to_all(self, output, input, async_op=False):
        raise NotImplementedError

    def send(self, tensor, dst):
        raise NotImplementedError

    def recv(self, tensor, src):
        raise NotImplementedError

    def barrier(self, timeout=None):
        raise NotImplementedError

    def split(self, ranks):
        """The subgroup of `ranks` (this rank must be in it, or None is returned); every member calls it."""
        raise NotImplementedError

    @staticmethod
    def _finish(fn, async_op):
        if async_op:
            return Work(fn)
        return fn()
