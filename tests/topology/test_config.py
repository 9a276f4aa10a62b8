"""Environment variables: one declaration each, parsed at call time, clear errors."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import TopologyError, islands
from vibetensor.fabric.topology.config import VARS, get


def test_every_variable_is_declared_with_a_doc():
    assert set(VARS) == {"VIBETENSOR_TOPO_FILE", "VIBETENSOR_P2P_LEVEL", "VIBETENSOR_ONESHOT_MAX_BYTES",
                         "VIBETENSOR_PROBE_BYTES", "VIBETENSOR_FABRIC_REDUCE_COPY",
                         "VIBETENSOR_FABRIC_RANKS_PER_HOST"}
    for name, var in VARS.items():
        assert name.startswith("VIBETENSOR_") and len(var.doc) > 20


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
        get(name, {name: value})


def test_read_at_call_time(bridge, monkeypatch):
    assert islands(bridge) == [(0, 1), (2, 3)]
    monkeypatch.setenv("VIBETENSOR_P2P_LEVEL", "NODE")
    assert islands(bridge) == [(0, 1, 2, 3)]
