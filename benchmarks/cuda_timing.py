"""Timing helpers for the CUDA benchmarks: host time per call and device time per call (CUDA events)."""
import statistics
import time

import torch

import vibetensor as vt


def host_us(f, n=3000, rounds=5):
    for _ in range(50):
        f()
    torch.cuda.synchronize()
    vt.cuda.synchronize()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        samples.append((time.perf_counter() - t0) / n * 1e6)
        torch.cuda.synchronize()
        vt.cuda.synchronize()
    return statistics.median(samples)


def device_ms(f, n=20, rounds=5):
    f()
    torch.cuda.synchronize()
    vt.cuda.synchronize()
    samples = []
    for _ in range(rounds):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(n):
            f()
        e.record()
        e.synchronize()
        samples.append(s.elapsed_time(e) / n)
    return statistics.median(samples)
