"""The probe's bench on real GPUs: peer copies through cuda-python, timed with CUDA events.

Copies use ``cudaMemcpyPeerAsync`` (the copy engines; with peer access enabled they go straight
over NVLink/PCIe, without it the driver stages them through host memory). Bandwidth is bytes
copied per second in one direction; a device's own copy bandwidth counts each byte once (reads and
writes together move twice that through memory).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ProbeUnavailable, SourceUnavailable
from .source_cuda import CudaRuntimeSource, check as _check

__all__ = ["CudaCopyBench", "LATENCY_BYTES", "VERIFY_BYTES"]

LATENCY_BYTES = 8
VERIFY_BYTES = 1 << 20
_LATENCY_REPEATS = 100


class CudaCopyBench:
    """Allocates a source and a destination buffer per device, lazily, and times copies between them."""

    def __init__(self, runtime: Any = None) -> None:
        try:
            source = CudaRuntimeSource(runtime)
        except SourceUnavailable as exc:
            raise ProbeUnavailable(f"cannot use CUDA: {exc}") from None
        self.rt, self.count = source.rt, source.count
        self.buffers: dict[int, tuple[int, int, int]] = {}  # device -> (src, dst, size)
        self.streams: dict[int, Any] = {}
        self.peers: set[tuple[int, int]] = set()

    def check(self, result: Any, what: str) -> Any:
        return _check(self.rt, result, what, error=RuntimeError)

    def device_count(self) -> int:
        return self.count

    def can_access_peer(self, a: int, b: int) -> bool:
        return bool(self.check(self.rt.cudaDeviceCanAccessPeer(a, b), f"cudaDeviceCanAccessPeer({a}, {b})"))

    def _use(self, dev: int, nbytes: int) -> tuple[int, int]:
        rt = self.rt
        self.check(rt.cudaSetDevice(dev), f"cudaSetDevice({dev})")
        have = self.buffers.get(dev)
        if have is None or have[2] < nbytes:
            if have is not None:
                self.check(rt.cudaFree(have[0]), "cudaFree")
                self.check(rt.cudaFree(have[1]), "cudaFree")
            src = self.check(rt.cudaMalloc(nbytes), f"cudaMalloc({nbytes}) on GPU {dev}")
            dst = self.check(rt.cudaMalloc(nbytes), f"cudaMalloc({nbytes}) on GPU {dev}")
            self.buffers[dev] = have = (int(src), int(dst), nbytes)
        if dev not in self.streams:
            self.streams[dev] = self.check(rt.cudaStreamCreateWithFlags(rt.cudaStreamNonBlocking), "cudaStreamCreate")
        return have[0], have[1]

    def _enable_peer(self, a: int, b: int) -> None:
        # Peer access is per direction and enabled from the accessing device.
        if a == b or (a, b) in self.peers or not self.can_access_peer(a, b):
            return
        rt = self.rt
        self.check(rt.cudaSetDevice(a), f"cudaSetDevice({a})")
        (err,) = rt.cudaDeviceEnablePeerAccess(b, 0)
        if err not in (rt.cudaError_t.cudaSuccess, rt.cudaError_t.cudaErrorPeerAccessAlreadyEnabled):
            self.check((err,), f"cudaDeviceEnablePeerAccess({a} -> {b})")
        self.peers.add((a, b))

    def _copy(self, src_dev: int, dst_dev: int, nbytes: int, stream: Any) -> None:
        rt = self.rt
        src = self.buffers[src_dev][0]
        dst = self.buffers[dst_dev][1]
        if src_dev == dst_dev:
            self.check(rt.cudaMemcpyAsync(dst, src, nbytes, rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice, stream),
                       "cudaMemcpyAsync")
        else:
            self.check(rt.cudaMemcpyPeerAsync(dst, dst_dev, src, src_dev, nbytes, stream), "cudaMemcpyPeerAsync")

    def _timed(self, dev: int, enqueue) -> float:
        """Milliseconds between two events on ``dev``'s stream around ``enqueue()``."""
        rt = self.rt
        self.check(rt.cudaSetDevice(dev), f"cudaSetDevice({dev})")
        start = self.check(rt.cudaEventCreate(), "cudaEventCreate")
        end = self.check(rt.cudaEventCreate(), "cudaEventCreate")
        try:
            self.check(rt.cudaEventRecord(start, self.streams[dev]), "cudaEventRecord")
            enqueue()
            self.check(rt.cudaSetDevice(dev), f"cudaSetDevice({dev})")
            self.check(rt.cudaEventRecord(end, self.streams[dev]), "cudaEventRecord")
            self.check(rt.cudaEventSynchronize(end), "cudaEventSynchronize")
            return float(self.check(rt.cudaEventElapsedTime(start, end), "cudaEventElapsedTime"))
        finally:
            rt.cudaEventDestroy(start)
            rt.cudaEventDestroy(end)

    def copy_gbps(self, src: int, dst: int, nbytes: int, repeats: int) -> float:
        """GB/s of ``repeats`` back-to-back copies of ``nbytes`` from ``src`` to ``dst``."""
        self._use(dst, nbytes)
        self._use(src, nbytes)
        self._enable_peer(src, dst)
        stream = self.streams[src]
        self._copy(src, dst, nbytes, stream)  # warm-up: first copy pays for mappings
        ms = self._timed(src, lambda: [self._copy(src, dst, nbytes, stream) for _ in range(repeats)])
        return nbytes * repeats / (ms * 1e-3) / 1e9

    def bidirectional_gbps(self, a: int, b: int, nbytes: int, repeats: int) -> float:
        """GB/s summed over both directions while ``a -> b`` and ``b -> a`` copy at once."""
        rt = self.rt
        self._use(a, nbytes)
        self._use(b, nbytes)
        self._enable_peer(a, b)
        self._enable_peer(b, a)
        sa, sb = self.streams[a], self.streams[b]
        # Ordering-only events (no timing), one on each device: b's stream starts when a's does,
        # and a's stream ends after b's copies.
        self.check(rt.cudaSetDevice(a), f"cudaSetDevice({a})")
        go = self.check(rt.cudaEventCreateWithFlags(rt.cudaEventDisableTiming), "cudaEventCreate")
        self.check(rt.cudaSetDevice(b), f"cudaSetDevice({b})")
        done = self.check(rt.cudaEventCreateWithFlags(rt.cudaEventDisableTiming), "cudaEventCreate")

        def both() -> None:
            self.check(rt.cudaEventRecord(go, sa), "cudaEventRecord")
            self.check(rt.cudaSetDevice(b), f"cudaSetDevice({b})")
            self.check(rt.cudaStreamWaitEvent(sb, go, 0), "cudaStreamWaitEvent")
            for _ in range(repeats):
                self._copy(b, a, nbytes, sb)
            self.check(rt.cudaEventRecord(done, sb), "cudaEventRecord")
            self.check(rt.cudaSetDevice(a), f"cudaSetDevice({a})")
            for _ in range(repeats):
                self._copy(a, b, nbytes, sa)
            self.check(rt.cudaStreamWaitEvent(sa, done, 0), "cudaStreamWaitEvent")

        try:
            ms = self._timed(a, both)
        finally:
            rt.cudaEventDestroy(go)
            rt.cudaEventDestroy(done)
        return 2 * nbytes * repeats / (ms * 1e-3) / 1e9

    def latency_us(self, src: int, dst: int) -> float:
        """Microseconds per small copy, averaged over a burst of them."""
        self._use(dst, LATENCY_BYTES)
        self._use(src, LATENCY_BYTES)
        self._enable_peer(src, dst)
        stream = self.streams[src]
        self._copy(src, dst, LATENCY_BYTES, stream)
        ms = self._timed(src, lambda: [self._copy(src, dst, LATENCY_BYTES, stream) for _ in range(_LATENCY_REPEATS)])
        return ms * 1e3 / _LATENCY_REPEATS

    def verify(self, src: int, dst: int) -> bool:
        """Copy a known pattern from ``src`` to ``dst`` and check every byte that arrives."""
        rt = self.rt
        self._use(dst, VERIFY_BYTES)
        self._use(src, VERIFY_BYTES)
        self._enable_peer(src, dst)
        pattern = (np.arange(VERIFY_BYTES, dtype=np.uint32) * 2654435761 >> 24).astype(np.uint8)
        back = np.zeros(VERIFY_BYTES, dtype=np.uint8)
        h2d, d2h = rt.cudaMemcpyKind.cudaMemcpyHostToDevice, rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.check(rt.cudaSetDevice(src), f"cudaSetDevice({src})")
        self.check(rt.cudaMemcpy(self.buffers[src][0], pattern.ctypes.data, VERIFY_BYTES, h2d), "cudaMemcpy")
        self.check(rt.cudaSetDevice(dst), f"cudaSetDevice({dst})")
        self.check(rt.cudaMemset(self.buffers[dst][1], 0, VERIFY_BYTES), "cudaMemset")
        self.check(rt.cudaSetDevice(src), f"cudaSetDevice({src})")
        self._copy(src, dst, VERIFY_BYTES, self.streams[src])
        self.check(rt.cudaStreamSynchronize(self.streams[src]), "cudaStreamSynchronize")
        self.check(rt.cudaSetDevice(dst), f"cudaSetDevice({dst})")
        self.check(rt.cudaMemcpy(back.ctypes.data, self.buffers[dst][1], VERIFY_BYTES, d2h), "cudaMemcpy")
        return bool(np.array_equal(pattern, back))

    def close(self) -> None:
        """Free buffers and streams and turn off the peer access this bench turned on."""
        rt = self.rt
        for a, b in self.peers:
            rt.cudaSetDevice(a)
            rt.cudaDeviceDisablePeerAccess(b)
        for dev, (src, dst, _) in self.buffers.items():
            rt.cudaSetDevice(dev)
            rt.cudaFree(src)
            rt.cudaFree(dst)
        for dev, stream in self.streams.items():
            rt.cudaSetDevice(dev)
            rt.cudaStreamDestroy(stream)
        self.buffers.clear()
        self.streams.clear()
        self.peers.clear()
