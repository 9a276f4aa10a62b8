"""Triton kernel sources and generators."""
import importlib
import importlib.util
import os
import sys


def kernels_module(stem, module_suffix=""):
    """The hand-written kernel module kernels/triton/<stem>.py, or (module_suffix non-empty) a private copy
    of it for the interpreter, whose globals kernels/interpret.py may rewrite without touching the compiled
    path. Imported on first use: Triton is optional until a kernel is compiled."""
    if not module_suffix:
        return importlib.import_module(f"{__name__}.{stem}")
    name = f"vibetensor_kernels_{stem}{module_suffix}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), f"{stem}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
