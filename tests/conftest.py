import os

# Kernel tests run Triton under its interpreter and compile CuTe DSL for Hopper when there is no GPU.
os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("CUTE_DSL_ARCH", "sm_90a")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip cleanly on machines without a GPU (CI)."""
    from vibetensor.fabric.topology import cuda_device_count

    if cuda_device_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (cuda_device_count() is 0 here)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
