"""Grad mode: whether ops record history. Thread-local, kept in the native core so dispatch reads it directly."""
import functools
import threading

from .. import _C

_local = threading.local()


def is_grad_enabled():
    return _C._grad_enabled()


def is_inference_mode_enabled():
    return getattr(_local, "inference", False)


class _GradModeContext:
    """Context manager and decorator that sets grad mode on entry and restores it on exit."""

    def __init__(self, enabled):
        self.enabled = enabled
        self._prev = []

    def __enter__(self):
        self._prev.append(_C._grad_enabled())
        _C._set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev.pop())
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)(*self._args()):
                return fn(*args, **kwargs)
        return wrapper

    def _args(self):
        return (self.enabled,)


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Ops inside record no history: ``with vt.no_grad(): ...`` or ``@vt.no_grad()``."""

    def __init__(self):
        super().__init__(False)

    def _args(self):
        return ()


class enable_grad(_GradModeContext):  # noqa: N801
    """Re-enables recording inside a no_grad region."""

    def __init__(self):
        super().__init__(True)

    def _args(self):
        return ()


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """``set_grad_enabled(False)`` works as a function call and as a context manager."""

    def __init__(self, mode):
        super().__init__(bool(mode))
        self._prev.append(_C._grad_enabled())
        _C._set_grad_enabled(self.enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev.pop())
        return False


class inference_mode(_GradModeContext):  # noqa: N801
    """Like no_grad, for inference: nothing records history inside (``inference_mode(False)`` is a no-op)."""

    def __init__(self, mode=True):
        super().__init__(not mode)
        self.mode = mode

    def __enter__(self):
        self._prev_inf = getattr(_local, "inference", False)
        _local.inference = self.mode or self._prev_inf
        return super().__enter__() if self.mode else self

    def __exit__(self, *exc):
        _local.inference = self._prev_inf
        return super().__exit__(*exc) if self.mode else False

    def _args(self):
        return (self.mode,)
