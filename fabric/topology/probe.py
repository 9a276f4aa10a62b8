"""``--probe``: measure peer copies on the real GPUs, store the figures on the graph, and flag pairs
whose measurement disagrees with what the driver reported.

Per pair: unidirectional bandwidth each way, bidirectional bandwidth, small-copy latency, and a
data check (a pattern copied across must arrive intact). With one GPU there are no peers: the
probe measures the device's own copy bandwidth instead. The measuring is done by a *bench*
(probe_cuda.CudaCopyBench on real GPUs); what counts as a disagreement is the pure function
:func:`judge_pair`, tested without a GPU.

>>> judge_pair("NV18", 450.0, peer_access=True, uni_gbps=120.0, data_ok=True)
['measured 120 GB/s, under half the 450 GB/s expected for NV18 with peer access: a degraded link, or copies staged through host memory']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ... import config
from .errors import ProbeUnavailable, TopologyError
from .graph import gpu, gpus, link, note
from .links import HOST_STAGED_FACTOR

__all__ = ["PairResult", "DeviceResult", "ProbeReport", "judge_pair", "probe", "apply_probe",
           "LOW_BANDWIDTH_FRACTION", "STAGED_EXCESS_FACTOR"]

# Under this share of the expected bandwidth a pair is flagged as slow.
LOW_BANDWIDTH_FRACTION = 0.5
# Over this multiple of the host-staged expectation, a pair the driver calls non-P2P is suspicious.
STAGED_EXCESS_FACTOR = 1.5


@dataclass(frozen=True)
class PairResult:
    """Measurements between GPUs ``a`` and ``b`` (GB/s per direction, microseconds)."""

    a: int
    b: int
    peer_access: bool
    gbps_ab: float | None = None
    gbps_ba: float | None = None
    bi_gbps: float | None = None
    latency_us: float | None = None
    data_ok: bool | None = None
    error: str | None = None
    flags: tuple[str, ...] = ()

    @property
    def uni_gbps(self) -> float | None:
        values = [v for v in (self.gbps_ab, self.gbps_ba) if v is not None]
        return min(values) if values else None


@dataclass(frozen=True)
class DeviceResult:
    """A device's copy bandwidth within its own memory (bytes copied per second, GB/s)."""

    gpu: int
    d2d_gbps: float | None
    error: str | None = None


@dataclass(frozen=True)
class ProbeReport:
    nbytes: int
    devices: tuple[DeviceResult, ...]
    pairs: tuple[PairResult, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flagged(self) -> list[PairResult]:
        return [p for p in self.pairs if p.flags]


def judge_pair(kind: str, nominal_gbps: float, peer_access: bool, uni_gbps: float | None,
               data_ok: bool | None, error: str | None = None) -> list[str]:
    """Why a pair's measurement disagrees with the driver's report (empty when it agrees).

    ``nominal_gbps`` is the link's nominal per-direction bandwidth, ``peer_access`` what the driver
    said (cudaDeviceCanAccessPeer both ways). Without peer access a copy is staged through host
    memory, so the expectation is lower.

    >>> judge_pair("PIX", 31.5, peer_access=True, uni_gbps=None, data_ok=None, error="cudaErrorInvalidValue")
    ['the driver reports peer access but the copy failed: cudaErrorInvalidValue']
    >>> judge_pair("NV18", 450.0, peer_access=True, uni_gbps=380.0, data_ok=True)
    []
    """
    if error:
        return [f"the driver reports peer access but the copy failed: {error}" if peer_access
                else f"the copy failed: {error}"]
    flags = []
    if data_ok is False:
        flags.append("data copied between the pair arrived corrupted"
                     + (" although the driver reports peer access" if peer_access else ""))
    expected = nominal_gbps if peer_access else nominal_gbps * HOST_STAGED_FACTOR
    if uni_gbps is not None:
        if uni_gbps < LOW_BANDWIDTH_FRACTION * expected:
            how = "with peer access" if peer_access else "staged through host memory"
            flags.append(f"measured {uni_gbps:.3g} GB/s, under half the {expected:.3g} GB/s expected for {kind} "
                         f"{how}" + (": a degraded link, or copies staged through host memory" if peer_access else ""))
        if not peer_access and uni_gbps > STAGED_EXCESS_FACTOR * expected:
            flags.append(f"the driver reports no peer access, yet copies run at {uni_gbps:.3g} GB/s "
                         f"(> {STAGED_EXCESS_FACTOR}x the {expected:.3g} GB/s a host-staged copy gets)")
    return flags


def probe(g: nx.Graph | None = None, nbytes: int | None = None, repeats: int = 5, bench: Any = None) -> ProbeReport:
    """Measure every GPU and every pair of ``g`` (default: :func:`discover`) and judge each pair.

    ``bench`` defaults to the cuda-python bench; ProbeUnavailable says why when it cannot run.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> class OneGpu:  # stands in for the hardware here; CudaCopyBench measures real GPUs
    ...     def device_count(self): return 1
    ...     def copy_gbps(self, src, dst, nbytes, repeats): return 1450.0
    ...     def close(self): pass
    >>> report = probe(load(fixture_path("single_gpu")), nbytes=1 << 20, bench=OneGpu())
    >>> report.devices[0].d2d_gbps, report.notes
    (1450.0, ('one GPU: no peers to measure; measured its own copy bandwidth',))
    """
    if bench is None:
        from .probe_cuda import CudaCopyBench
        bench = CudaCopyBench()
    if g is None:
        from .discover import discover
        g = discover()
    nbytes = int(config.get("VIBETENSOR_PROBE_BYTES", error=TopologyError)) if nbytes is None else nbytes
    indices = gpus(g)
    count = bench.device_count()
    if not indices or count == 0:
        raise ProbeUnavailable("no CUDA device to measure")
    if indices[-1] >= count:
        raise ProbeUnavailable(f"the topology has GPU {indices[-1]} but CUDA shows {count} device(s)")
    try:
        devices = tuple(_device(bench, i, nbytes, repeats) for i in indices)
        pairs = tuple(_pair(g, bench, a, b, nbytes, repeats) for a in indices for b in indices if a < b)
    finally:
        bench.close()
    notes = () if pairs else ("one GPU: no peers to measure; measured its own copy bandwidth",)
    return ProbeReport(nbytes, devices, pairs, notes)


def _device(bench: Any, i: int, nbytes: int, repeats: int) -> DeviceResult:
    try:
        return DeviceResult(i, bench.copy_gbps(i, i, nbytes, repeats))
    except RuntimeError as exc:
        return DeviceResult(i, None, str(exc))


def _pair(g: nx.Graph, bench: Any, a: int, b: int, nbytes: int, repeats: int) -> PairResult:
    access = bench.can_access_peer(a, b) and bench.can_access_peer(b, a)
    edge = link(g, a, b)
    try:
        result = PairResult(
            a, b, access,
            gbps_ab=bench.copy_gbps(a, b, nbytes, repeats),
            gbps_ba=bench.copy_gbps(b, a, nbytes, repeats),
            bi_gbps=bench.bidirectional_gbps(a, b, nbytes, repeats),
            latency_us=max(bench.latency_us(a, b), bench.latency_us(b, a)),
            data_ok=bench.verify(a, b) and bench.verify(b, a),
        )
    except RuntimeError as exc:
        result = PairResult(a, b, access, error=str(exc))
    flags = judge_pair(edge["kind"], edge["bandwidth_gbps"], access, result.uni_gbps, result.data_ok, result.error)
    return PairResult(**{**result.__dict__, "flags": tuple(flags)})


def apply_probe(g: nx.Graph, report: ProbeReport) -> None:
    """Store the measurements on the graph: planning then uses them instead of nominal figures.

    >>> from .serialize import load
    >>> from .fixtures import fixture_path
    >>> g = load(fixture_path("nvlink_bridge_2plus2"))
    >>> apply_probe(g, ProbeReport(1 << 20, (), (PairResult(0, 1, True, 91.0, 93.0, 180.0, 2.1, True),)))
    >>> link(g, 0, 1)["measured_uni_gbps"], link(g, 0, 1)["probe_flags"]
    (91.0, ())
    """
    for d in report.devices:
        if d.d2d_gbps is not None:
            gpu(g, d.gpu)["measured_d2d_gbps"] = round(d.d2d_gbps, 3)
    for p in report.pairs:
        edge = link(g, p.a, p.b)
        for key, value in (("measured_uni_gbps", p.uni_gbps), ("measured_bi_gbps", p.bi_gbps),
                           ("measured_latency_us", p.latency_us)):
            if value is not None:
                edge[key] = round(value, 3)
        edge["probe_flags"] = p.flags
    for n in report.notes:
        note(g, n)
    note(g, f"probed with {report.nbytes}-byte copies; bandwidths on probed links are measured")
