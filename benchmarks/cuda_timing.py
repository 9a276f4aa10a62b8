"""Timing helpers for the CUDA benchmarks: host time per call and device time per call (CUDA events)."""
import statistics
import time

import torch

import vibetensor as vt


def sync_both():
    torch.cuda.synchronize()
    vt.cuda.synchronize()


def host_us(f, n=3000, rounds=5):
    for _ in range(50):
        f()
    sync_both()
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        samples.append((time.perf_counter() - t0) / n * 1e6)
        sync_both()
    return statistics.median(samples)


def device_ms(f, n=20, rounds=5, sleep_cycles=0, event=torch.cuda.Event, sync=sync_both, before_round=None):
    """Median GPU ms per call of f over `rounds` of n calls between CUDA events (vibetensor and torch share
    the legacy default stream, where the events are recorded). sleep_cycles > 0 queues the calls behind a
    sleep kernel first, so the host's time to issue them is hidden: the GPU's own time per call.
    event: the event class (vt.cuda.Event records on vibetensor's current stream; anything with record,
    synchronize and elapsed_time will do, e.g. a host clock); sync: waits for the queued work;
    before_round: untimed work before each round (refilling data that f changes, meeting peer ranks)."""
    f()
    sync()
    samples = []
    for _ in range(rounds):
        if before_round:
            before_round()
        s, e = event(enable_timing=True), event(enable_timing=True)
        if sleep_cycles:
            torch.cuda._sleep(sleep_cycles)
        s.record()
        for _ in range(n):
            f()
        e.record()
        e.synchronize()
        samples.append(s.elapsed_time(e) / n)
    return statistics.median(samples)


SLEEP_CYCLES = 4_000_000  # ~2 ms on an H100: longer than the host takes to queue the timed calls


def queued_ms(f, n=20, rounds=7):
    """device_ms with the calls queued behind a sleep kernel: the GPU's own time per call."""
    return device_ms(f, n=n, rounds=rounds, sleep_cycles=SLEEP_CYCLES)


def same(shape, dtype=vt.bfloat16, scale=1.0, requires_grad=False):
    """The same random values as a vibetensor and a torch tensor on the GPU."""
    host = (vt.randn(*shape) * scale).to(dtype)
    x, t = host.cuda(), torch.from_dlpack(host).cuda()
    if requires_grad:
        x.requires_grad_(True)
        t.requires_grad_(True)
    return x, t


def close(got, want, tol=2e-2):
    """Asserts a vibetensor result matches torch's within tol of the larger of 1 and torch's largest value."""
    got, want = torch.from_dlpack(got.detach().cpu().float()).double(), want.detach().cpu().double()
    err = (got - want).abs().max().item()
    assert err <= tol * max(1.0, want.abs().max().item()), f"mismatch: max error {err}"
