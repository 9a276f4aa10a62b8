"""Shared fixtures for the topology tests, and the skip hook for tests marked ``cuda``."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibetensor.fabric.topology import FIXTURES, cuda_device_count, fixture_path, load

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    mine = [i for i in items if "cuda" in i.keywords and _HERE in Path(str(i.path)).parents]
    if mine and cuda_device_count() == 0:
        skip = pytest.mark.skip(reason="needs a CUDA GPU (cuda_device_count() is 0 here)")
        for item in mine:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_topology_env(monkeypatch):
    # Tests set these explicitly; a developer's shell must not change their answers.
    for name in ("VIBETENSOR_TOPO_FILE", "VIBETENSOR_P2P_LEVEL", "VIBETENSOR_ONESHOT_MAX_BYTES",
                 "VIBETENSOR_PROBE_BYTES", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=FIXTURES)
def fixture_name(request) -> str:
    return request.param


@pytest.fixture
def dgx():
    return load(fixture_path("dgx_h100_8gpu"))


@pytest.fixture
def pcie4():
    return load(fixture_path("pcie_4gpu_2socket"))


@pytest.fixture
def bridge():
    return load(fixture_path("nvlink_bridge_2plus2"))


@pytest.fixture
def single():
    return load(fixture_path("single_gpu"))
