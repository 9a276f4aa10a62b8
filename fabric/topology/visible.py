"""CUDA_VISIBLE_DEVICES: which physical GPUs a process sees, and in what order.

CUDA applies the variable itself, so devices from the CUDA runtime are already the visible ones.
NVML ignores it; when NVML is the only source, :func:`visible_devices` applies CUDA's rules to
NVML's list: entries are indices or GPU UUIDs (a unique prefix is enough), and the list stops at
the first entry that names no device, or one already named.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["visible_devices"]


def visible_devices(value: str | None, uuids: Sequence[str]) -> tuple[list[int], str | None]:
    """Physical indices visible under ``CUDA_VISIBLE_DEVICES=value``, given the physical GPUs'
    UUIDs in index order; the second item says why the list stopped early, if it did.

    >>> uuids = ["GPU-aaaa1111", "GPU-bbbb2222", "GPU-cccc3333", "GPU-dddd4444"]
    >>> visible_devices(None, uuids)
    ([0, 1, 2, 3], None)
    >>> visible_devices("2,0", uuids)
    ([2, 0], None)
    >>> visible_devices("GPU-cccc, 1", uuids)
    ([2, 1], None)
    >>> visible_devices("1,7,2", uuids)
    ([1], "CUDA_VISIBLE_DEVICES entry '7' names no GPU; CUDA ignores it and every entry after it")
    >>> visible_devices("", uuids)
    ([], None)
    """
    if value is None:
        return list(range(len(uuids))), None
    chosen: list[int] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            if len(value.strip()) == 0:
                break
            return chosen, "CUDA_VISIBLE_DEVICES has an empty entry; CUDA ignores it and every entry after it"
        index = _resolve(entry, uuids)
        if index is None or index in chosen:
            why = "names no GPU" if index is None else "repeats a GPU"
            if entry.upper().startswith("MIG-"):
                why = "is a MIG instance, which this topology does not map"
            return chosen, f"CUDA_VISIBLE_DEVICES entry {entry!r} {why}; CUDA ignores it and every entry after it"
        chosen.append(index)
    return chosen, None


def _resolve(entry: str, uuids: Sequence[str]) -> int | None:
    if entry.lstrip("-").isdigit():
        i = int(entry)
        return i if 0 <= i < len(uuids) else None
    if entry.upper().startswith("GPU-"):
        matches = [i for i, u in enumerate(uuids) if u.lower().startswith(entry.lower())]
        return matches[0] if len(matches) == 1 else None
    return None
