"""The probe's judgement (pure) and orchestration (with a scripted bench standing in for the GPUs)."""

from __future__ import annotations

import pytest

from vibetensor.fabric.topology import (
    ProbeUnavailable, apply_probe, choose_algorithm, judge_pair, link, plan_ring, probe,
)
from vibetensor.fabric.topology.probe import LOW_BANDWIDTH_FRACTION
from vibetensor.fabric.topology.render_text import render_probe
from topo_fakes import ScriptedBench


def test_judge_agreeing_pairs():
    assert judge_pair("NV18", 450.0, True, 376.0, True) == []
    assert judge_pair("SYS", 12.6, False, 5.5, True) == []  # staged: expected 6.3


def test_judge_flags():
    [slow] = judge_pair("NV18", 450.0, True, 450.0 * LOW_BANDWIDTH_FRACTION - 1, True)
    assert slow.startswith("measured 224 GB/s, under half the 450 GB/s expected for NV18 with peer access")
    [failed] = judge_pair("PIX", 31.5, True, None, None, error="cudaErrorInvalidValue")
    assert failed == "the driver reports peer access but the copy failed: cudaErrorInvalidValue"
    assert judge_pair("SYS", 12.6, False, None, None, error="boom") == ["the copy failed: boom"]
    [bad_data] = judge_pair("PIX", 31.5, True, 30.0, False)
    assert bad_data == "data copied between the pair arrived corrupted although the driver reports peer access"
    [too_fast] = judge_pair("PHB", 25.2, False, 24.0, True)
    assert "the driver reports no peer access, yet copies run at 24 GB/s" in too_fast


def test_probe_of_one_gpu_measures_its_own_copy(single):
    bench = ScriptedBench(1, {}, d2d=1450.0)
    report = probe(single, nbytes=1 << 20, bench=bench)
    assert report.pairs == () and report.devices[0].d2d_gbps == 1450.0
    assert report.notes == ("one GPU: no peers to measure; measured its own copy bandwidth",)
    assert bench.closed and bench.sizes == {1 << 20}
    apply_probe(single, report)
    assert single.nodes["gpu0"]["measured_d2d_gbps"] == 1450.0
    text = render_probe(report)
    assert "GPU0 copy within its memory: 1450 GB/s" in text and "no peers to measure" in text


def test_probe_flags_disagreements_and_stores_figures(bridge):
    gbps = {(0, 1): 90.0, (0, 2): 9.0, (0, 3): 9.0, (1, 2): 9.0, (1, 3): 9.0, (2, 3): 12.0}
    bench = ScriptedBench(4, gbps, no_access={frozenset((0, 2)), frozenset((0, 3)), frozenset((1, 2)),
                                              frozenset((1, 3))},
                          broken={frozenset((1, 3))}, corrupt={frozenset((0, 1))})
    report = probe(bridge, nbytes=4096, bench=bench)
    by_pair = {(p.a, p.b): p for p in report.pairs}
    assert len(by_pair) == 6 and bench.closed
    assert by_pair[(0, 1)].flags == ("data copied between the pair arrived corrupted although the driver reports peer access",)
    assert by_pair[(2, 3)].flags[0].startswith("measured 12 GB/s, under half the 31.5 GB/s expected for PIX")
    assert by_pair[(1, 3)].flags == ("the copy failed: cudaMemcpyPeerAsync failed: cudaErrorInvalidValue (invalid argument)",)
    assert by_pair[(0, 2)].flags == () and by_pair[(0, 2)].peer_access is False
    assert [(p.a, p.b) for p in report.flagged] == [(0, 1), (1, 3), (2, 3)]

    apply_probe(bridge, report)
    e = link(bridge, 2, 3)
    assert (e["measured_uni_gbps"], e["measured_bi_gbps"], e["measured_latency_us"]) == (12.0, 22.8, 2.5)
    assert "measured_uni_gbps" not in link(bridge, 1, 3) and link(bridge, 1, 3)["probe_flags"]
    # Planning now uses what was measured.
    assert plan_ring(bridge, among=[0, 1]).bottleneck_gbps == 90.0
    text = render_probe(report)
    assert "! GPU0-GPU1: data copied between the pair arrived corrupted" in text and "FLAGGED" in text


def test_probe_uses_the_configured_size(dgx, monkeypatch):
    monkeypatch.setenv("VIBETENSOR_PROBE_BYTES", "8192")
    bench = ScriptedBench(8, {(a, b): 380.0 for a in range(8) for b in range(8) if a < b})
    report = probe(dgx, bench=bench)
    assert report.nbytes == 8192 and bench.sizes == {8192} and report.flagged == []
    apply_probe(dgx, report)
    assert choose_algorithm(dgx, 1 << 30).seconds == pytest.approx(18e-6 + 1.75 * (1 << 30) / 380e9)


def test_probe_refuses_when_there_is_nothing_to_measure(dgx, single):
    with pytest.raises(ProbeUnavailable, match="no CUDA device to measure"):
        probe(single, bench=ScriptedBench(0, {}))
    with pytest.raises(ProbeUnavailable, match="the topology has GPU 7 but CUDA shows 2 device"):
        probe(dgx, bench=ScriptedBench(2, {}))


def test_real_bench_is_unavailable_without_cuda(monkeypatch):
    from vibetensor.fabric.topology import cuda_device_count
    if cuda_device_count() > 0:
        pytest.skip("this machine has a GPU")
    from vibetensor.fabric.topology.probe_cuda import CudaCopyBench
    with pytest.raises(ProbeUnavailable, match="cannot use CUDA: "):
        CudaCopyBench()
