"""Shared fixtures for the topology tests, and the skip hook for tests marked ``cuda``."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import FIXTURES, fixture_path, load

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
