import os

# Kernel tests run Triton under its interpreter and compile CuTe DSL for Hopper when there is no GPU.
os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("CUTE_DSL_ARCH", "sm_90a")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import pytest  # noqa: E402


def _cuda_available():
    try:
        import vibetensor as vt
        return bool(getattr(getattr(vt, "cuda", None), "is_available", lambda: False)())
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
