"""One process driving every GPU: all-reduce, reduce-scatter and all-gather over a LocalGroup of the real
GPUs (our peer-memory programs, reading the other cards through peer access) against NCCL's one-process
API (torch.cuda.nccl), and a peer-reading add against torch's copy-then-add, in the same run.

    python benchmarks/multigpu_local.py [--max-bytes N]     # needs two or more GPUs

Times are wall-clock per call with every GPU synchronised around a batch of calls (a collective spans all
devices, so one device's events would miss the others' tail); the host's issuing time is included for both
libraries alike. "bus GB/s" uses nccl-tests' formulas: all-reduce S/t * 2(n-1)/n, the others S/t * (n-1)/n
with S the full buffer's bytes.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # NVLink multicast stays off on the lent machines
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")

sys.path.insert(0, os.path.dirname(__file__))
from common import print_table, versions, write_results  # noqa: E402

import torch  # noqa: E402
import torch.cuda.nccl as tnccl  # noqa: E402

import vibetensor as vt  # noqa: E402
from vibetensor import fabric  # noqa: E402
from vibetensor.fabric.collectives import cuda_peer  # noqa: E402

SIZES = [8, 1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20]


def sync_all(n):
    for d in range(n):
        torch.cuda.synchronize(d)
        vt.cuda.synchronize(d)


def wall_us(f, n_gpus, calls, rounds=5, reset=None):
    """Median microseconds per call; reset() runs untimed before each round (an in-place all-reduce doubles
    its values every call: refilled, they stay finite and random)."""
    f()
    sync_all(n_gpus)
    samples = []
    for _ in range(rounds):
        if reset:
            reset()
            sync_all(n_gpus)
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        sync_all(n_gpus)
        samples.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(samples)


def to_vt(t, dtype, d):
    return vt.tensor(t.float().cpu().numpy()).to(dtype).to(f"cuda:{d}")


def cases(n, group, dtype, tdtype, nbytes):
    """(op, bus factor, full bytes, our outputs, NCCL's outputs, {impl: callable}, reset) for one size."""
    numel = max(n, nbytes // dtype.itemsize) // n * n
    txs = [torch.randn(numel, device=f"cuda:{d}", dtype=tdtype) for d in range(n)]
    xs = [to_vt(t, dtype, d) for d, t in enumerate(txs)]
    tsum, vsum = [t.clone() for t in txs], [x.clone() for x in xs]  # the all-reduce's in-place buffers

    def refill():
        for t, v, t0, v0 in zip(tsum, vsum, txs, xs):
            t.copy_(t0)
            v.copy_(v0)
    tparts = [torch.empty(numel // n, device=f"cuda:{d}", dtype=tdtype) for d in range(n)]
    parts = [vt.empty(numel // n, dtype=dtype, device=f"cuda:{d}") for d in range(n)]
    tfull = [torch.empty(numel, device=f"cuda:{d}", dtype=tdtype) for d in range(n)]
    full = [vt.empty(numel, dtype=dtype, device=f"cuda:{d}") for d in range(n)]
    full_bytes = numel * dtype.itemsize
    yield "all_reduce", 2 * (n - 1) / n, full_bytes, vsum, tsum, {
        "nccl": lambda: tnccl.all_reduce(tsum),
        "ours": lambda: group.all_reduce(vsum),
        "ours oneshot": lambda: group.all_reduce(vsum, algorithm="oneshot"),
        "ours direct": lambda: group.all_reduce(vsum, algorithm="direct"),
        "ours ring": lambda: group.all_reduce(vsum, algorithm="ring")}, refill
    yield "reduce_scatter", (n - 1) / n, full_bytes, parts, tparts, {
        "nccl": lambda: tnccl.reduce_scatter(txs, tparts),
        "ours": lambda: group.reduce_scatter(parts, xs)}, None
    yield "all_gather", (n - 1) / n, full_bytes, full, tfull, {
        "nccl": lambda: tnccl.all_gather(tparts, tfull),
        "ours": lambda: group.all_gather(full, parts)}, None


def same(ours, theirs, dtype):
    """Our result against NCCL's on the same inputs (bf16 sums differ by rounding order)."""
    tol = 1e-4 if dtype == vt.float32 else 3e-2
    for o, t in zip(ours, theirs):
        a, b = o.float().cpu().numpy(), t.float().cpu().numpy()
        err = abs(a - b).max() / max(1.0, abs(b).max())
        if err > tol:
            raise AssertionError(f"ours differs from NCCL by {err:.2e} (relative)")


def collectives(n, rows, results, max_bytes, capacity, save):
    group = fabric.LocalGroup(fabric.virtual_devices("cuda", n, physical=range(n)), capacity=capacity)
    for dtype, tdtype in ((vt.float32, torch.float32), (vt.bfloat16, torch.bfloat16)):
        for nbytes in [s for s in SIZES if s <= max_bytes]:
            for op, factor, full_bytes, out, tout, impls, reset in cases(n, group, dtype, tdtype, nbytes):
                impls["nccl"](), impls["ours"]()  # one call each on the same inputs, then compare
                sync_all(n)
                same(out, tout, dtype)
                calls = 50 if nbytes <= (1 << 20) else 5
                us = {k: wall_us(f, n, calls, reset=reset) for k, f in impls.items()}
                if reset:  # and again after the timed calls: a repeated call takes LocalGroup's fast path
                    reset()
                impls["nccl"](), impls["ours"]()
                sync_all(n)
                same(out, tout, dtype)
                best = min((k for k in us if k != "nccl"), key=us.get)
                bus = {k: full_bytes * factor / (v * 1e-6) / 1e9 for k, v in us.items()}
                cols = [f"{us[k]:.1f}" if k in us else "-" for k in ("nccl", "ours", "ours oneshot", "ours direct",
                                                                         "ours ring")]
                rows.append([op, str(dtype).split(".")[-1], full_bytes, *cols,
                             f"{bus[best]:.0f}", f"{bus['nccl']:.0f}", f"{us['nccl'] / us[best]:.2f}x"])
                results.append({"op": op, "dtype": str(dtype), "bytes": full_bytes, "us": us, "bus_GBps": bus,
                                "best": best, "nccl_time_over_ours": us["nccl"] / us[best]})
                print(" | ".join(map(str, rows[-1])), flush=True)  # as they finish: a run cut short keeps them
                save(partial=True)
    group.synchronize()


def peer_reads(rows, results):
    """a (cuda:0) + b (cuda:1): ours reads b after an event wait; torch copies it over, then adds."""
    a_dev, b_dev = fabric.virtual_devices("cuda", 2, physical=[0, 1])
    for nbytes in (1 << 20, 64 << 20):
        numel = nbytes // 4
        ta, tb = torch.randn(numel, device="cuda:0"), torch.randn(numel, device="cuda:1")
        a, b = to_vt(ta, vt.float32, 0), to_vt(tb, vt.float32, 1)
        got = fabric.peer_add(a, b, device=a_dev, peer=b_dev)
        same([got], [ta + tb.to("cuda:0")], vt.float32)
        us = {"torch": wall_us(lambda: ta + tb.to("cuda:0", non_blocking=True), 2, 20),
              "ours": wall_us(lambda: fabric.peer_add(a, b, device=a_dev, peer=b_dev), 2, 20)}
        rows.append(["peer add", "float32", nbytes, f"{us['ours']:.1f}", f"{us['torch']:.1f}",
                     f"{us['torch'] / us['ours']:.2f}x"])
        results.append({"op": "peer_add", "dtype": "float32", "bytes": nbytes, "us": us,
                        "torch_time_over_ours": us["torch"] / us["ours"]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-bytes", type=int, default=SIZES[-1], help="largest message (bytes)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/multigpu_local.json)")
    ap.add_argument("--capacity", type=int, help="each GPU's fabric buffer (bytes; default: the group's, "
                    "cuda_peer.DEFAULT_CAPACITY, as one process per GPU)")
    args = ap.parse_args()
    n = torch.cuda.device_count()
    if n < 2:
        raise SystemExit("multigpu_local: needs two or more GPUs")
    rows, results, prows = [], [], []
    name = torch.cuda.get_device_name()

    def save(partial=False):
        write_results("multigpu_local", results, path=args.out, gpu=name, gpus=n, versions=versions(), partial=partial,
                      capacity=cuda_peer.capacity_of(args.capacity),
                      note="one process drives every GPU; wall-clock per call with all GPUs synchronised")
    collectives(n, rows, results, args.max_bytes, args.capacity, save)
    peer_reads(prows, results)
    print_table(f"one process, {n} x {name}: ours (LocalGroup, peer memory) vs NCCL (torch.cuda.nccl)",
                ["op", "dtype", "bytes", "nccl us", "ours us", "oneshot us", "direct us", "ring us", "ours bus GB/s",
                 "nccl bus GB/s", "nccl/ours"], rows)
    print_table("peer-reading add", ["op", "dtype", "bytes", "ours us", "torch us", "torch/ours"], prows)
    save()


if __name__ == "__main__":
    main()
