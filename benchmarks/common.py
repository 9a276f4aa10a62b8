"""Shared benchmark plumbing: what machine this is, median timings, tables and JSON results.

Every claim is a ratio measured in one run on one machine, next to PyTorch (and numpy on CPU).
"""
import json
import os
import platform
import statistics
import time


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def median_time(fn, min_time=0.2, repeats=7):
    """Median seconds per call: calls are batched so each sample lasts about min_time / repeats."""
    fn()
    n, t0 = 1, time.perf_counter()
    while True:  # size a batch
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > min_time / repeats / 4 or n > 1 << 22:
            break
        n *= 4
        t0 = time.perf_counter()
    per_sample = max(1, int(n * (min_time / repeats) / max(dt, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_sample):
            fn()
        samples.append((time.perf_counter() - t0) / per_sample)
    return statistics.median(samples)


def print_table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))


def write_results(name, results, path=None, **meta):
    """Writes benchmarks/results/<name>.json, or `path` (a smoke run elsewhere leaves the stored results be).
    "device" names what ran the timed work: the GPU when the caller passes gpu=, else the CPU."""
    path = path or os.path.join(os.path.dirname(__file__), "results", f"{name}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {"benchmark": name, "device": meta.get("gpu") or cpu_name(), "machine": machine(),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), **meta, "results": results}
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"\nwrote {path}")
    return path


def versions():
    out = {}
    for mod in ("numpy", "torch", "vibetensor"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - an absent library is simply not reported
            pass
    return out
