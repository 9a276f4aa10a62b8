"""CUDA_VISIBLE_DEVICES rules applied to NVML's list of physical GPUs."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import visible_devices

UUIDS = ["GPU-0a1b2c3d-0000-0000-0000-000000000000", "GPU-0a1b9999-0000-0000-0000-000000000001",
         "GPU-77777777-0000-0000-0000-000000000002", "GPU-88888888-0000-0000-0000-000000000003"]


@pytest.mark.parametrize("value, expected", [
    (None, [0, 1, 2, 3]),
    ("0,1,2,3", [0, 1, 2, 3]),
    ("3,1", [3, 1]),
    (" 2 , 0 ", [2, 0]),
    ("GPU-7777", [2]),
    ("gpu-88888888-0000-0000-0000-000000000003,0", [3, 0]),
    ("", []),
])
def test_visible(value, expected):
    assert visible_devices(value, UUIDS) == (expected, None)


@pytest.mark.parametrize("value, expected, why", [
    ("1,4,2", [1], "entry '4' names no GPU"),
    ("-1", [], "entry '-1' names no GPU"),
    ("2,GPU-0a1b", [2], "entry 'GPU-0a1b' names no GPU"),  # prefix of two UUIDs: ambiguous
    ("0,0", [0], "entry '0' repeats a GPU"),
    ("MIG-1234,0", [], "is a MIG instance"),
    ("1,,2", [1], "empty entry"),
    ("nonsense", [], "entry 'nonsense' names no GPU"),
])
def test_invalid_entry_stops_the_list(value, expected, why):
    chosen, reason = visible_devices(value, UUIDS)
    assert chosen == expected and why in reason
