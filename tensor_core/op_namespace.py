"""``vt.ops``: every op of the table by name, including ones defined later through vt.library."""
from .. import _C


class _Ops:
    """Attribute access to ops: ``vt.ops.add``, ``vt.ops.max``; ``vt.ops.ns_name`` for ``ns::name``."""

    def __getattr__(self, name):
        fn = getattr(_C._ops, name, None)
        if fn is None and "_" in name:
            fn = getattr(_C._ops, name.replace("_", "::", 1), None)
        if fn is None:
            raise AttributeError(f"vibetensor has no op named {name!r}")
        return fn

    def __dir__(self):
        return [n for n in dir(_C._ops) if not n.startswith("__")]


ops = _Ops()
