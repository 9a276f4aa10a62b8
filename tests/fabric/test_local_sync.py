"""Virtual devices and in-process sync: device lists, barriers, peer reads with their counters."""
import numpy as np
import pytest

import vibetensor as vt
from vibetensor import fabric
from vibetensor.fabric import observe
from helpers import rng


def test_virtual_devices():
    devs = fabric.virtual_devices("cpu", 3)
    assert [str(d) for d in devs] == ["cpu/v0", "cpu/v1", "cpu/v2"]
    assert all(d.device == vt.device("cpu") and d.stream is None for d in devs)
    gpus = fabric.virtual_devices("cuda", 4)  # described without a GPU: streams come on first use
    assert [str(d) for d in gpus] == ["cuda:0/v0", "cuda:0/v1", "cuda:0/v2", "cuda:0/v3"]
    assert [d.device.index for d in fabric.virtual_devices("cuda", 4, physical=[0, 1])] == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="at least one device"):
        fabric.virtual_devices("cpu", 0)
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        fabric.virtual_devices("tpu", 2)
    with pytest.raises(ValueError, match="appears twice"):
        fabric.LocalGroup([devs[0], devs[0]])


def test_peer_add_and_copy_count_bytes():
    a_dev, b_dev = fabric.virtual_devices("cpu", 2)
    gen = rng()
    a, b = gen.standard_normal((4, 5)), gen.standard_normal((4, 5))
    seq = observe.last_seq()
    before = observe.counters().get("link.cpu/v1->cpu/v0.bytes", 0)
    out = fabric.peer_add(vt.tensor(a), vt.tensor(b), device=a_dev, peer=b_dev)
    np.testing.assert_allclose(out.numpy(), a + b)
    c = fabric.peer_copy(vt.tensor(b), device=a_dev, peer=b_dev)
    np.testing.assert_allclose(c.numpy(), b)
    ev = observe.events(since=seq)
    assert [e.kind for e in ev] == ["peer_add", "peer_copy"] and ev[0].algorithm == "local"
    assert observe.counters()["link.cpu/v1->cpu/v0.bytes"] - before == 2 * 20 * 8
    with pytest.raises(ValueError, match="shapes differ"):
        fabric.peer_add(vt.zeros(2), vt.zeros(3), device=a_dev, peer=b_dev)


def test_barrier_records():
    seq = observe.last_seq()
    fabric.barrier(fabric.virtual_devices("cpu", 4))
    (e,) = observe.events(since=seq)
    assert e.kind == "barrier" and e.detail == "4 devices"
