"""Fabric observability: counters and an event ring with sequence numbers.

Transports call `record(...)` once per collective; users read `counters()` and `events(since=seq)`. The ring
keeps the last VIBETENSOR_FABRIC_EVENTS (default 4096) events; sequence numbers never repeat, so a reader that
polls with the last seq it saw misses nothing still in the ring.

From outside the process: with VIBETENSOR_FABRIC_STATS=DIR (vibetensor-launch --log-dir sets it) each process
writes `snapshot()` to DIR/fabric_rank<RANK>.json at exit, and

    python -m vibetensor.fabric.stats DIR_OR_FILES...

prints the counters of every rank side by side.
"""
import atexit
import collections
import functools
import itertools
import json
import os
import threading
import time

from .. import config

_lock = threading.Lock()
_seq = 0  # the last sequence number given out
_next_seq = itertools.count(1).__next__  # atomic under the GIL: a recorder takes a number without the lock
_ring = collections.deque(maxlen=config.get("VIBETENSOR_FABRIC_EVENTS"))  # a deque's size is fixed: read once
_counters = collections.Counter()
_tally = {}  # (kind, algorithm, nbytes, detail, id(links)) -> [records, seconds, links] not yet in _counters
_cells = {}  # recorders' running totals: (kind, group, rank, algorithm, nbytes, links' items) -> _Cell
_in_flight = collections.deque()  # one entry per collective in flight: append and pop are atomic, no lock
_in_flight_peak = 0
_device_timing = config.get("VIBETENSOR_FABRIC_DEVICE_TIMING")
_pending = collections.deque()  # (seconds counter, start event, end event) of GPU collectives not yet resolved

Event = collections.namedtuple("Event", "seq time kind group rank algorithm nbytes seconds detail")


@functools.lru_cache(maxsize=None)
def _names(kind, algorithm):
    """The counters one record of (kind, algorithm) adds to (made once: a GPU collective is issued in ~10 us)."""
    return f"{kind}.count", f"{kind}.{algorithm}.count" if algorithm else None, f"{kind}.bytes", f"{kind}.seconds"


@functools.lru_cache(maxsize=None)
def _link_name(src, dst):
    return f"link.{src}->{dst}.bytes"


def record(kind, *, group="", rank=-1, algorithm="", nbytes=0, seconds=0.0, detail="", links=None):
    """One finished collective (or a fallback, with `detail` saying why). links: {(src, dst): bytes}.

    Cheap, because a CPU all-reduce of 4 KB takes a few microseconds: the event goes into the ring as a tuple,
    and the counters grow later (_fold, when they are read): records of one (kind, algorithm, size, detail,
    links dict) are tallied into one entry, so a loop of one collective costs a dict lookup and two adds."""
    return _record((kind, algorithm, nbytes, detail, id(links)), links, kind, group, rank, algorithm, nbytes,
                   detail, seconds)


class _Cell:
    """One recorder's running totals (records, seconds), which only its calls add to, and how much of them the
    counters already hold (which only _fold, under the lock, moves on): the two sides never write the same field,
    so a record needs no lock."""
    __slots__ = ("n", "seconds", "folded_n", "folded_seconds", "key", "links")

    def __init__(self, key, links):
        self.n = self.folded_n = 0
        self.seconds = self.folded_seconds = 0.0
        self.key, self.links = key, links


def recorder(kind, *, group="", rank=-1, algorithm="", nbytes=0, links=None):
    """record with every argument but `seconds` bound once: rec(seconds) records one more such collective and
    returns its sequence number. A hot path's (a 4 KB CPU all-reduce of 2 ranks takes ~2.7 us): no lock (a record
    under the lock took 460 ns, this one 220), the event appended to the ring as it is, the counts added to the
    _Cell of (kind, group, rank, algorithm, size, links), shared only by recorders of one group's rank, whose
    collectives run one at a time."""
    key = (kind, group, rank, algorithm, nbytes, tuple(sorted((links or {}).items())))
    with _lock:
        cell = _cells.get(key)
        if cell is None:
            cell = _cells[key] = _Cell(key, links)
    ring, now = _ring.append, time.time

    def rec(seconds):
        global _seq
        _seq = s = _next_seq()
        ring((s, now(), kind, group, rank, algorithm, nbytes, seconds, ""))
        cell.n += 1
        cell.seconds += seconds
        return s
    return rec


def _record(key, links, kind, group, rank, algorithm, nbytes, detail, seconds):
    global _seq
    with _lock:  # _tally keeps `links` alive: the id in its key is not reused
        _seq = s = _next_seq()
        _ring.append((s, time.time(), kind, group, rank, algorithm, nbytes, seconds, detail))
        t = _tally.get(key)
        if t is None:
            if len(_tally) >= 256:  # callers that make a links dict per call: fold now and then
                _fold()
            t = _tally[key] = [0, 0.0, links]
        t[0] += 1
        t[1] += seconds
        return s


def _add(kind, algorithm, nbytes, detail, links, n, seconds):
    """n records of one (kind, algorithm, size, detail, links) taking `seconds` in all, into the counters."""
    count, algo_count, nbytes_name, seconds_name = _names(kind, algorithm)
    _counters[count] += n
    if algo_count:
        _counters[algo_count] += n
    _counters[nbytes_name] += n * nbytes
    _counters[seconds_name] += seconds
    for (src, dst), b in (links or {}).items():
        _counters[_link_name(src, dst)] += n * b
    if kind == "fallback":
        _counters[f"fallback.{detail}"] += n


def _fold():
    """Adds the tallied records and what recorders added since the last fold to the counters (caller holds
    _lock)."""
    for (kind, algorithm, nbytes, detail, _), (n, seconds, links) in _tally.items():
        _add(kind, algorithm, nbytes, detail, links, n, seconds)
    _tally.clear()
    for c in _cells.values():
        n, seconds = c.n, c.seconds  # read once: a record may land meanwhile, and counts next time
        if n != c.folded_n:
            kind, _, _, algorithm, nbytes, _ = c.key
            _add(kind, algorithm, nbytes, "", c.links, n - c.folded_n, seconds - c.folded_seconds)
            c.folded_n, c.folded_seconds = n, seconds


def device_timing(on=None):
    """Whether GPU collectives are timed on the device (VIBETENSOR_FABRIC_DEVICE_TIMING; off by default: the two
    timing events cost a few microseconds a call). With on=True/False, turns it on or off. A GPU collective
    returns before its kernels run, so the host clock cannot time it: its `<kind>.seconds` counter grows by
    the device time between events recorded around its kernels, once the device has passed them."""
    global _device_timing
    if on is not None:
        _device_timing = bool(on)
    return _device_timing


def device_interval(kind, start, end):
    """A GPU collective's timing events (recorded before and after its kernels), resolved lazily."""
    with _lock:
        _pending.append((_names(kind, "")[3], start, end))
        _resolve()


def _resolve():
    """Adds the device time of every collective whose end event the device has passed (in issue order;
    caller holds _lock)."""
    while _pending and _pending[0][2].query():
        name, start, end = _pending.popleft()
        _counters[name] += start.elapsed_time(end) / 1e3


def flying():
    """One more collective in flight (and its peak). No lock: a 4 KB CPU all-reduce takes ~3 us, and a lock round
    trip on entry and exit cost a fifth of it. The peak is read and raised without one (two threads racing to
    raise it keep the lower of their counts for a moment; the next entry fixes it)."""
    global _in_flight_peak
    _in_flight.append(None)
    n = len(_in_flight)
    if n > _in_flight_peak:
        _in_flight_peak = n


def landed():
    """One collective in flight fewer (flying's pair)."""
    _in_flight.pop()


class _InFlight:
    """`with` around flying and landed."""
    __slots__ = ()

    def __enter__(self):
        flying()

    def __exit__(self, *exc):
        landed()


_IN_FLIGHT = _InFlight()


def in_flight():
    """`with observe.in_flight():` around a collective."""
    return _IN_FLIGHT


def counters():
    with _lock:
        _fold()
        _resolve()
        c = dict(_counters)
        c["in_flight"], c["in_flight_peak"] = len(_in_flight), _in_flight_peak
        return c


def events(since=0):
    """Events with seq > since, oldest first."""
    return [Event(*e) for e in sorted(_ring_copy()) if e[0] > since]


def _ring_copy():
    """The ring's events as a list. Recorders append without the lock; copying is one C call, but one that a
    garbage collection inside it could interrupt (another thread's append: "deque mutated"): try again."""
    while True:
        try:
            return list(_ring)
        except RuntimeError:
            pass


def last_seq():
    return _seq


def reset():
    """Clears counters and the ring (sequence numbers keep counting)."""
    global _in_flight_peak
    with _lock:
        _ring.clear()
        _counters.clear()
        _tally.clear()
        for c in _cells.values():  # what they hold now counts as folded
            c.folded_n, c.folded_seconds = c.n, c.seconds
        _pending.clear()
        _in_flight_peak = len(_in_flight)


def snapshot():
    """Counters and the events still in the ring, as plain data (what the stats file holds)."""
    return {"rank": int(os.environ.get("RANK", 0)), "pid": os.getpid(), "counters": counters(),
            "events": [e._asdict() for e in events()]}


def dump(path):
    """Writes snapshot() to `path` as JSON, atomically (a reader never sees half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(snapshot(), f)
    os.replace(tmp, path)
    return path


def _dump_at_exit():
    directory = config.get("VIBETENSOR_FABRIC_STATS")
    if directory and _seq:  # only processes that ran collectives
        try:
            os.makedirs(directory, exist_ok=True)
            dump(os.path.join(directory, f"fabric_rank{os.environ.get('RANK', '0')}.json"))
        except OSError as e:  # a full disk must not turn a finished job into a failed one
            print(f"vibetensor.fabric: could not write stats to {directory}: {e}", flush=True)


atexit.register(_dump_at_exit)
