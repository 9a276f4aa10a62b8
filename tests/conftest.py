import os

import pytest  # noqa: E402

from vibetensor import config as vt_config  # noqa: E402
from vibetensor.fabric.topology import cuda_device_count  # noqa: E402  (imports no Triton)

HAS_GPU = cuda_device_count() > 0
if not HAS_GPU:
    # Without a GPU, Triton runs kernels under its interpreter and CuTe DSL compiles for Hopper.
    os.environ.setdefault("TRITON_INTERPRET", "1")
    os.environ.setdefault("CUTE_DSL_ARCH", "sm_90a")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")


def _long_requested(config):
    # `-m long` (or any -m expression naming it) or VIBETENSOR_LONG_TESTS=1 runs the soak-sized variants.
    return "long" in (config.getoption("markexpr", "") or "") or vt_config.get("VIBETENSOR_LONG_TESTS")


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip cleanly on machines without a GPU (CI); tests marked `long` skip unless asked."""
    skip_long = None if _long_requested(config) else pytest.mark.skip(
        reason="long variant: run with -m long or VIBETENSOR_LONG_TESTS=1")
    skip_cuda = None if HAS_GPU else pytest.mark.skip(reason="needs a CUDA GPU (cuda_device_count() is 0 here)")
    for item in items:
        if skip_cuda and item.get_closest_marker("cuda") is not None:
            item.add_marker(skip_cuda)
        if skip_long and item.get_closest_marker("long") is not None:
            item.add_marker(skip_long)
