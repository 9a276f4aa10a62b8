"""The topology's environment variables: parsed at call time, and a bad value is a TopologyError naming it."""

from __future__ import annotations

import pytest

from vibetensor.config import get
from vibetensor.fabric.topology import TopologyError, islands


def test_defaults_and_parsing():
    assert get("VIBETENSOR_P2P_LEVEL", {}) == "PXB"
    assert get("VIBETENSOR_P2P_LEVEL", {"VIBETENSOR_P2P_LEVEL": " node "}) == "NODE"
    assert get("VIBETENSOR_ONESHOT_MAX_BYTES", {}) is None
    assert get("VIBETENSOR_ONESHOT_MAX_BYTES", {"VIBETENSOR_ONESHOT_MAX_BYTES": "0x10000"}) == 65536
    assert get("VIBETENSOR_PROBE_BYTES", {"VIBETENSOR_PROBE_BYTES": ""}) == 64 << 20


@pytest.mark.parametrize("name, value, message", [
    ("VIBETENSOR_P2P_LEVEL", "NV4", "expected one of PIX, PXB, PHB, NODE, SYS"),
    ("VIBETENSOR_ONESHOT_MAX_BYTES", "-5", "must be >= 0"),
    ("VIBETENSOR_PROBE_BYTES", "big", "invalid literal"),
])
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(TopologyError, match=f"{name}='{value}' is invalid: .*{message}"):
        get(name, {name: value}, error=TopologyError)


def test_topology_functions_raise_topology_errors(bridge, monkeypatch):
    monkeypatch.setenv("VIBETENSOR_P2P_LEVEL", "NV4")
    with pytest.raises(TopologyError, match="VIBETENSOR_P2P_LEVEL='NV4' is invalid"):
        islands(bridge)


def test_read_at_call_time(bridge, monkeypatch):
    assert islands(bridge) == [(0, 1), (2, 3)]
    monkeypatch.setenv("VIBETENSOR_P2P_LEVEL", "NODE")
    assert islands(bridge) == [(0, 1, 2, 3)]
