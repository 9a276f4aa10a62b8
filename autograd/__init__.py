"""Reverse-mode autograd over the dispatcher.

Any op called on a tensor that requires grad reaches the dispatcher's autograd kernel (record.py), which
records a node from the op's row in the derivative table (derivatives/); `backward` / `grad` run the graph
(engine.py). No global lock: each backward keeps its own state.
"""
from .. import _C
from .derivatives import TABLE as DERIVATIVES
from .engine import backward, grad, queue_callback
from .function import Function, FunctionCtx
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import Node
from . import record, tensor_methods


def _install():
    from ..tensor_core import Tensor
    tensor_methods.install(Tensor)
    record.install()


_install()

__all__ = ["backward", "grad", "queue_callback", "Function", "FunctionCtx", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "gradcheck", "gradgradcheck",
           "GradcheckError", "Node", "DERIVATIVES"]
_ = _C
