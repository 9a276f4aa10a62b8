"""``vt.backends.cuda``: how CUDA matrix products run.

``matmul.allow_tf32`` (default False, as in PyTorch) lets float32 GEMMs round their inputs to TF32 on tensor
cores; it is the same switch as ``vt.set_float32_matmul_precision`` ("highest" = exact float32, "high" and
"medium" = TF32). ``matmul.backend`` says which library runs GEMMs: "cublaslt" (loaded at run time from the
pip wheel next to vibetensor, sys.path, $VIBETENSOR_CUBLASLT_LIBRARY or the system) or "triton" (our generated
kernel, used when cuBLASLt is missing or chosen with ``preferred_blas_library("triton")``).
"""
import os
import sys

from .. import _C

_c = _C._cuda
_PRECISIONS = ("highest", "high", "medium")
_preferred = "cublaslt"

# The pip wheels' site-packages directories, where nvidia-cublas puts libcublasLt (read when first loaded).
_c.set_blas_search_dirs([p for p in sys.path if p and os.path.isdir(p)])


def set_float32_matmul_precision(precision):
    """PyTorch's ``torch.set_float32_matmul_precision``: "highest", "high" or "medium"."""
    if precision not in _PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: expected one of {', '.join(_PRECISIONS)}, got {precision!r}")
    _c.set_float32_matmul_precision(_PRECISIONS.index(precision))


def get_float32_matmul_precision():
    return _PRECISIONS[_c.float32_matmul_precision()]


def preferred_blas_library(backend=None):
    """Chooses the GEMM library ("cublaslt", "cublas" and "default" mean cuBLASLt; "triton" our kernel) and
    returns the preference. cuBLASLt falls back to Triton where it cannot be loaded (see matmul.backend)."""
    global _preferred
    if backend is not None:
        name = str(backend).lower()
        if name not in ("cublaslt", "cublas", "default", "triton"):
            raise ValueError(f"preferred_blas_library: unknown backend {backend!r} (expected 'cublaslt' or 'triton')")
        _preferred = "triton" if name == "triton" else "cublaslt"
        _c.set_preferred_blas_backend(_preferred == "cublaslt")
    return _preferred


def cublaslt_info():
    """{"path": where libcublasLt was loaded from (and its version), "error": why it could not be} (one is "")."""
    path, error = _c.cublaslt_info()
    return {"path": path, "error": error}


class _Matmul:
    """``vt.backends.cuda.matmul``: attribute access like ``torch.backends.cuda.matmul``."""

    __slots__ = ()

    @property
    def allow_tf32(self):
        return _c.float32_matmul_precision() != 0

    @allow_tf32.setter
    def allow_tf32(self, value):
        _c.set_float32_matmul_precision(1 if value else 0)

    @property
    def backend(self):
        """The library GEMMs run on now: "cublaslt" or "triton"."""
        return _c.blas_backend()

    def __repr__(self):
        return f"<vt.backends.cuda.matmul allow_tf32={self.allow_tf32} backend={self.backend!r}>"


matmul = _Matmul()
