"""The cuda-python bench against a simulated runtime: its arithmetic, its CUDA call discipline, its
data check and its clean-up. (On a GPU, test_cuda_machine.py runs it for real.)"""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import fixture_path, load, probe
from vibetensor.fabric.topology.probe_cuda import LATENCY_BYTES, CudaCopyBench
from fake_cudart import FakeRuntime

MB = 1 << 20


def test_copy_bandwidth_and_latency_arithmetic():
    rt = FakeRuntime(2, link_gbps={(0, 1): 400.0, (1, 0): 380.0}, d2d_gbps=1500.0, latency_us=2.0)
    bench = CudaCopyBench(rt)
    n = 64 * MB
    per_copy_us = 2.0 + n / 400e3
    assert bench.copy_gbps(0, 1, n, 5) == pytest.approx(n / per_copy_us / 1e3)
    assert bench.copy_gbps(1, 0, n, 5) == pytest.approx(n / (2.0 + n / 380e3) / 1e3)
    assert bench.copy_gbps(0, 0, n, 5) == pytest.approx(n / (2.0 + n / 1500e3) / 1e3)
    # Both directions overlap, so the pair moves twice the bytes in the slower direction's time.
    assert bench.bidirectional_gbps(0, 1, n, 5) == pytest.approx(2 * n / (2.0 + n / 380e3) / 1e3)
    assert bench.latency_us(0, 1) == pytest.approx(2.0 + LATENCY_BYTES / 400e3)
    assert rt.enabled == {(0, 1), (1, 0)}


def test_verify_catches_corruption():
    bench = CudaCopyBench(FakeRuntime(2, corrupt={(1, 0)}))
    assert bench.verify(0, 1) is True
    assert bench.verify(1, 0) is False


def test_close_releases_everything():
    rt = FakeRuntime(3)
    bench = CudaCopyBench(rt)
    bench.copy_gbps(0, 2, MB, 2)
    bench.bidirectional_gbps(1, 2, MB, 2)
    bench.close()
    assert rt.memory == {} and rt.enabled == set() and rt.live_streams == 0 and rt.live_events == 0


def test_no_peer_access_is_not_enabled():
    rt = FakeRuntime(2, peers=set())
    bench = CudaCopyBench(rt)
    assert not bench.can_access_peer(0, 1)
    assert bench.copy_gbps(0, 1, MB, 2) > 0 and rt.enabled == set()


def test_failed_calls_raise_runtime_errors():
    bench = CudaCopyBench(FakeRuntime(1))
    with pytest.raises(RuntimeError, match=r"cudaSetDevice\(3\) failed: cudaErrorInvalidDevice"):
        bench.copy_gbps(3, 3, MB, 1)


def test_full_probe_through_the_bench():
    g = load(fixture_path("nvlink_bridge_2plus2"))
    links = {(a, b): 90.0 if {a, b} == {0, 1} else 25.0 if {a, b} == {2, 3} else 6.0
             for a in range(4) for b in range(4) if a != b}
    peers = {(0, 1), (1, 0), (2, 3), (3, 2)}
    rt = FakeRuntime(4, link_gbps=links, peers=peers, corrupt={(3, 2)})
    report = probe(g, nbytes=8 * MB, repeats=3, bench=CudaCopyBench(rt))
    by_pair = {(p.a, p.b): p for p in report.pairs}
    assert by_pair[(0, 1)].peer_access
    assert by_pair[(0, 1)].uni_gbps == pytest.approx(8 * MB / (2.0 + 8 * MB / 90e3) / 1e3)
    assert not by_pair[(0, 2)].peer_access and by_pair[(0, 2)].flags == ()
    assert by_pair[(2, 3)].data_ok is False and "corrupted" in by_pair[(2, 3)].flags[0]
    assert [d.d2d_gbps > 1000 for d in report.devices] == [True] * 4
    assert rt.memory == {} and rt.live_streams == 0
