"""Collective schedules as data: which chunk each rank sends, receives and reduces at every step.

The CPU shared-memory transport, virtual devices and the GPU peer-memory transport all run these same
schedules, so CI exercises the real step order. A message is cut into `size` chunks (rank r owns chunk r
after a reduce-scatter); ranks are positions on the planned ring (fabric.topology's ring order maps them to
devices).
"""
from ... import config


def chunk_bounds(numel, size, align=1):
    """[(start, stop)] of `size` nearly equal chunks of numel elements (the first numel % size get one more);
    with align > 1, every chunk but the last starts a multiple of `align` elements in (vector loads), and
    trailing chunks may be empty."""
    if align > 1:
        per = -(-numel // (size * align)) * align
        return [(min(r * per, numel), min((r + 1) * per, numel)) for r in range(size)]
    base, extra = divmod(numel, size)
    out, start = [], 0
    for r in range(size):
        stop = start + base + (1 if r < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def ring_reduce_scatter(rank, size):
    """Steps of the ring reduce-scatter for `rank`: (send_chunk, recv_chunk) per step. At step s rank r sends
    its partial sum of chunk (r - s - 1) to r + 1 and adds what r - 1 sends of chunk (r - s - 2) to its own; after
    size - 1 steps rank r holds the full sum of chunk r."""
    return [((rank - s - 1) % size, (rank - s - 2) % size) for s in range(size - 1)]


def ring_all_gather(rank, size):
    """Steps of the ring all-gather after a ring reduce-scatter (rank r starts with chunk r complete):
    (send_chunk, recv_chunk) per step; receives overwrite."""
    return [((rank - s) % size, (rank - s - 1) % size) for s in range(size - 1)]


def ring_neighbours(rank, size):
    """(next, previous) rank on the ring."""
    return (rank + 1) % size, (rank - 1) % size


CPU_ONESHOT_MAX_BYTES = 256 * 1024


# what callers may request ("direct": a LocalGroup's all-reduce across GPUs, cuda_direct.py)
ALGORITHMS = ("auto", "ring", "oneshot", "twoshot", "pipelined", "direct")


def choose_algorithm(nbytes, size, crossover_bytes=None, requested="auto", pairs_oneshot=True):
    """'oneshot' (every rank reads every peer: latency-bound small messages) or 'ring' (bandwidth).
    crossover_bytes: the largest one-shot message (default VIBETENSOR_ONESHOT_MAX_BYTES, else
    CPU_ONESHOT_MAX_BYTES). pairs_oneshot: two ranks always take one-shot (on CPU both move the same bytes;
    the GPU transport's ring streams chunks where its one-shot kernel reads the whole peer buffer, so it
    passes False)."""
    if requested not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(map(repr, ALGORITHMS))}, got {requested!r}")
    if requested not in ("auto", "ring", "oneshot"):  # run by the GPU transport (twoshot) and ShmGroup's native
        # path; elsewhere the ring moves the same bytes
        return "ring"
    if requested != "auto":
        return requested
    if crossover_bytes is None:
        crossover_bytes = config.get("VIBETENSOR_ONESHOT_MAX_BYTES")
        crossover_bytes = CPU_ONESHOT_MAX_BYTES if crossover_bytes is None else crossover_bytes
    return "oneshot" if (pairs_oneshot and size <= 2) or nbytes <= crossover_bytes else "ring"


def cached_links(cache, key, make):
    """cache[key], made by make() on first use: one {(src, dst): bytes} dict per (kind, algorithm, size) of a
    group, since observe tallies records by the dict (cleared past 4096 sizes)."""
    links = cache.get(key)
    if links is None:
        if len(cache) > 4096:
            cache.clear()
        links = cache[key] = make()
    return links


def links_of(kind, algorithm, world, rank, nbytes):
    """{peer: bytes that came to this rank from it} for the observability counters."""
    if world == 1:
        return {}
    passes = 2 if kind == "all_reduce" else 1  # an all-reduce is a reduce-scatter, then an all-gather
    if algorithm == "ring":
        return {(rank - 1) % world: passes * nbytes * (world - 1) // world}
    if algorithm == "direct":  # rank 0's kernel reads every peer's message and writes each the result
        return {p: nbytes for p in range(1, world)} if rank == 0 else {0: nbytes}
    # all of it (the one-shot all-reduce: every peer's whole message), or its part of each chunk (the two-shots,
    # GPU and CPU, the CPU's pipelined one, and every one-shot reduce-scatter and all-gather: one chunk a peer)
    whole = kind == "all_reduce" and algorithm not in ("twoshot", "pipelined")
    share = nbytes if whole else passes * nbytes // world
    return {p: share for p in range(world) if p != rank}
