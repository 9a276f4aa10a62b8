"""CPU lists as Linux writes them ("0-55,112-167") <-> sorted tuples of CPU ids."""

from __future__ import annotations

from typing import Iterable

__all__ = ["parse_cpulist", "format_cpulist"]


def parse_cpulist(text: str) -> tuple[int, ...]:
    """Parse a Linux CPU list; raises ValueError naming the bad part.

    >>> parse_cpulist("0-3,8,10-11")
    (0, 1, 2, 3, 8, 10, 11)
    >>> parse_cpulist("")
    ()
    """
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"bad CPU list entry {part!r}")
        start, stop = int(lo), int(hi) if sep else int(lo)
        if stop < start:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.update(range(start, stop + 1))
    return tuple(sorted(cpus))


def format_cpulist(cpus: Iterable[int]) -> str:
    """Inverse of :func:`parse_cpulist`, merging runs into ranges.

    >>> format_cpulist([0, 1, 2, 3, 8, 10, 11])
    '0-3,8,10-11'
    """
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
