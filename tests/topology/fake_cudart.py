"""A simulated ``cuda.bindings.runtime`` for testing the probe's bench without a GPU.

It keeps device memory as bytearrays, copies bytes for real, and keeps a clock per stream: a copy
advances its stream by latency + bytes / link bandwidth, an event records its stream's clock, and
a stream waiting on an event jumps to that event's time. It also enforces the rules CUDA enforces
(an event is recorded on a stream of its own device, a copy is issued on a stream of the current
device, pointers belong to the devices named), so a bench that breaks them fails here as on a GPU.
"""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorInsufficientDriver = 35
    cudaErrorInvalidDevice = 101
    cudaErrorInvalidResourceHandle = 400
    cudaErrorPeerAccessAlreadyEnabled = 704
    cudaErrorPeerAccessNotEnabled = 705


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3


cudaStreamNonBlocking = 1
cudaEventDisableTiming = 2
OK = cudaError_t.cudaSuccess
BAD = cudaError_t.cudaErrorInvalidValue


@dataclass
class Stream:
    device: int
    clock_us: float = 0.0


@dataclass
class Event:
    device: int
    timing: bool
    time_us: float | None = None


class FakeRuntime:
    """``link_gbps[(src, dst)]`` per-direction GB/s; ``d2d_gbps`` within a device; ``corrupt`` pairs flip a byte."""

    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind
    cudaStreamNonBlocking = cudaStreamNonBlocking
    cudaEventDisableTiming = cudaEventDisableTiming

    def __init__(self, count, link_gbps=None, d2d_gbps=1500.0, latency_us=2.0, peers=None, corrupt=()):
        self.count, self.link_gbps, self.d2d_gbps, self.latency_us = count, link_gbps or {}, d2d_gbps, latency_us
        self.peers = peers if peers is not None else {(a, b) for a in range(count) for b in range(count) if a != b}
        self.corrupt = set(corrupt)
        self.current = 0
        self.memory: dict[int, tuple[int, bytearray]] = {}
        self.enabled: set[tuple[int, int]] = set()
        self.next_ptr = 0x10000
        self.live_streams, self.live_events = 0, 0

    # --- errors, devices, peers
    def cudaGetErrorString(self, err):
        return OK, f"simulated {cudaError_t(err).name}".encode()

    def cudaGetDeviceCount(self):
        return OK, self.count

    def cudaSetDevice(self, dev):
        if not 0 <= dev < self.count:
            return (cudaError_t.cudaErrorInvalidDevice,)
        self.current = dev
        return (OK,)

    def cudaDeviceCanAccessPeer(self, a, b):
        return OK, int((a, b) in self.peers)

    def cudaDeviceEnablePeerAccess(self, peer, flags):
        if (self.current, peer) not in self.peers:
            return (BAD,)
        if (self.current, peer) in self.enabled:
            return (cudaError_t.cudaErrorPeerAccessAlreadyEnabled,)
        self.enabled.add((self.current, peer))
        return (OK,)

    def cudaDeviceDisablePeerAccess(self, peer):
        if (self.current, peer) not in self.enabled:
            return (cudaError_t.cudaErrorPeerAccessNotEnabled,)
        self.enabled.remove((self.current, peer))
        return (OK,)

    # --- memory
    def cudaMalloc(self, size):
        ptr = self.next_ptr
        self.next_ptr += size + 0x1000
        self.memory[ptr] = (self.current, bytearray(size))
        return OK, ptr

    def cudaFree(self, ptr):
        return (OK,) if self.memory.pop(ptr, None) else (BAD,)

    def _buf(self, ptr, n, device=None):
        dev, buf = self.memory[ptr]
        assert len(buf) >= n, "copy past the end of an allocation"
        assert device is None or dev == device, f"pointer on GPU {dev} named as GPU {device}"
        return dev, buf

    def cudaMemset(self, ptr, value, n):
        self._buf(ptr, n, self.current)[1][:n] = bytes([value]) * n
        return (OK,)

    def cudaMemcpy(self, dst, src, n, kind):
        if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
            self._buf(dst, n)[1][:n] = ctypes.string_at(src, n)
        elif kind == cudaMemcpyKind.cudaMemcpyDeviceToHost:
            data = bytes(self._buf(src, n)[1][:n])
            ctypes.memmove(dst, data, n)
        else:
            return (BAD,)
        return (OK,)

    def _copy(self, dst, dst_dev, src, src_dev, n, stream):
        assert stream.device == self.current, "copy issued on a stream of another device"
        self._buf(dst, n, dst_dev)[1][:n] = self._buf(src, n, src_dev)[1][:n]
        if (src_dev, dst_dev) in self.corrupt and n:
            self.memory[dst][1][n // 2] ^= 0xFF
        gbps = self.d2d_gbps if src_dev == dst_dev else self.link_gbps.get((src_dev, dst_dev), 10.0)
        stream.clock_us += self.latency_us + n / (gbps * 1e3)
        return (OK,)

    def cudaMemcpyAsync(self, dst, src, n, kind, stream):
        assert kind == cudaMemcpyKind.cudaMemcpyDeviceToDevice
        return self._copy(dst, self.memory[dst][0], src, self.memory[src][0], n, stream)

    def cudaMemcpyPeerAsync(self, dst, dst_dev, src, src_dev, n, stream):
        return self._copy(dst, dst_dev, src, src_dev, n, stream)

    # --- streams and events
    def cudaStreamCreateWithFlags(self, flags):
        self.live_streams += 1
        return OK, Stream(self.current)

    def cudaStreamDestroy(self, stream):
        self.live_streams -= 1
        return (OK,)

    def cudaStreamSynchronize(self, stream):
        return (OK,)

    def cudaStreamWaitEvent(self, stream, event, flags):
        assert event.time_us is not None, "waiting on an event never recorded"
        stream.clock_us = max(stream.clock_us, event.time_us)
        return (OK,)

    def cudaEventCreate(self):
        self.live_events += 1
        return OK, Event(self.current, timing=True)

    def cudaEventCreateWithFlags(self, flags):
        self.live_events += 1
        return OK, Event(self.current, timing=not flags & cudaEventDisableTiming)

    def cudaEventDestroy(self, event):
        self.live_events -= 1
        return (OK,)

    def cudaEventRecord(self, event, stream):
        if event.device != stream.device:
            return (cudaError_t.cudaErrorInvalidResourceHandle,)
        event.time_us = stream.clock_us
        return (OK,)

    def cudaEventSynchronize(self, event):
        return (OK,)

    def cudaEventElapsedTime(self, start, end):
        if not (start.timing and end.timing) or start.device != end.device:
            return cudaError_t.cudaErrorInvalidResourceHandle, None
        return OK, (end.time_us - start.time_us) / 1e3
