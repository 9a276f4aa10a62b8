"""Fabric counters fed by GPU collectives' timing events: resolved once the device has passed them."""
from vibetensor import config
from vibetensor.fabric import observe


class FakeEvent:
    """A timing event the test completes by hand; elapsed_time in milliseconds, as CUDA's."""

    def __init__(self, ms=0.0):
        self.done, self.ms = False, ms

    def query(self):
        return self.done

    def elapsed_time(self, end):
        return end.ms - self.ms


def test_device_intervals_count_once_the_device_has_passed_them(monkeypatch):
    monkeypatch.setattr(observe, "_counters", observe.collections.Counter())
    monkeypatch.setattr(observe, "_pending", observe.collections.deque())
    monkeypatch.setattr(observe, "_tally", {})
    first, second = (FakeEvent(1.0), FakeEvent(3.5)), (FakeEvent(4.0), FakeEvent(4.25))
    observe.device_interval("all_reduce", *first)
    observe.device_interval("all_reduce", *second)
    assert observe.counters().get("all_reduce.seconds", 0.0) == 0.0  # nothing ran yet
    second[1].done = True  # resolved in issue order: the second waits for the first
    assert observe.counters().get("all_reduce.seconds", 0.0) == 0.0
    first[1].done = True
    assert abs(observe.counters()["all_reduce.seconds"] - 2.75e-3) < 1e-12
    assert not observe._pending


def test_device_timing_switch(monkeypatch):
    monkeypatch.setattr(observe, "_device_timing", config.get("VIBETENSOR_FABRIC_DEVICE_TIMING"))
    assert observe.device_timing() is False  # off unless asked: the events cost microseconds a call
    assert observe.device_timing(True) is True and observe.device_timing() is True
    assert observe.device_timing(False) is False
    assert config.get("VIBETENSOR_FABRIC_DEVICE_TIMING", {"VIBETENSOR_FABRIC_DEVICE_TIMING": "1"}) is True


def test_tallied_records_reach_the_counters_and_the_ring(monkeypatch):
    monkeypatch.setattr(observe, "_counters", observe.collections.Counter())
    monkeypatch.setattr(observe, "_tally", {})
    links = {(0, 1): 4096, (1, 0): 4096}
    seq = observe.last_seq()
    for i in range(300):  # one key, tallied; then more keys than the tally holds (a links dict per call)
        observe.record("all_reduce", algorithm="oneshot", nbytes=4096, seconds=1e-6, links=links)
    for i in range(300):
        observe.record("broadcast", nbytes=i, links={(0, 1): i})
    observe.record("fallback", detail="why")
    c = observe.counters()
    assert c["all_reduce.count"] == c["all_reduce.oneshot.count"] == 300 and c["all_reduce.bytes"] == 300 * 4096
    assert abs(c["all_reduce.seconds"] - 300e-6) < 1e-12 and c["link.1->0.bytes"] == 300 * 4096
    assert c["broadcast.count"] == 300 and c["broadcast.bytes"] == sum(range(300)) == c["link.0->1.bytes"] - 300 * 4096
    assert c["fallback.why"] == 1
    evs = observe.events(since=seq)
    assert [e.seq for e in evs] == list(range(seq + 1, seq + 602)) and evs[0].kind == "all_reduce"
    assert evs[-1].detail == "why" and evs[-2].nbytes == 299


def test_a_bound_recorder_records_as_record_does(monkeypatch):
    """observe.recorder: every argument but the seconds bound once (ShmGroup's 4 KB hot path), the same event
    and the same tally as record's."""
    monkeypatch.setattr(observe, "_counters", observe.collections.Counter())
    monkeypatch.setattr(observe, "_tally", {})
    monkeypatch.setattr(observe, "_cells", {})
    links = {(2, 0): 64}
    rec = observe.recorder("all_reduce", group="g", rank=0, algorithm="twoshot", nbytes=64, links=links)
    seq = observe.last_seq()
    assert rec(2e-6) == seq + 1
    observe.record("all_reduce", group="g", rank=0, algorithm="twoshot", nbytes=64, seconds=1e-6, links=links)
    assert len(observe._tally) == 1 and len(observe._cells) == 1  # the recorder keeps its own running totals
    c = observe.counters()
    assert c["all_reduce.twoshot.count"] == 2 and c["link.2->0.bytes"] == 128
    assert abs(c["all_reduce.seconds"] - 3e-6) < 1e-12
    a, b = observe.events(since=seq)
    assert (a.group, a.rank, a.algorithm, a.nbytes, a.seconds, a.detail) == ("g", 0, "twoshot", 64, 2e-6, "")
    assert b.seq == a.seq + 1 and b.seconds == 1e-6


def test_recorders_lose_nothing_to_threads_and_folds(monkeypatch):
    """Recorders take no lock: threads recording through their own recorders while another reads the counters
    (each read folds) must still count every record once, with every sequence number given once."""
    import threading
    monkeypatch.setattr(observe, "_counters", observe.collections.Counter())
    monkeypatch.setattr(observe, "_tally", {})
    monkeypatch.setattr(observe, "_cells", {})
    monkeypatch.setattr(observe, "_ring", observe.collections.deque(maxlen=100000))
    per, threads = 5000, 4
    recs = [observe.recorder("all_reduce", group="g", rank=r, algorithm="oneshot", nbytes=16 + r,
                             links={(r, 9): 8}) for r in range(threads)]
    seq0, stop = observe.last_seq(), threading.Event()

    def read():
        while not stop.is_set():
            observe.counters()
            observe.events(since=seq0)
    reader = threading.Thread(target=read)
    reader.start()
    workers = [threading.Thread(target=lambda rec=rec: [rec(1e-6) for _ in range(per)]) for rec in recs]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    reader.join()
    c = observe.counters()
    assert c["all_reduce.oneshot.count"] == per * threads
    assert c["all_reduce.bytes"] == per * sum(16 + r for r in range(threads))
    assert all(c[f"link.{r}->9.bytes"] == 8 * per for r in range(threads))
    assert abs(c["all_reduce.seconds"] - per * threads * 1e-6) < 1e-9
    seqs = [e.seq for e in observe.events(since=seq0)]
    assert seqs == sorted(set(seqs)) and len(seqs) == per * threads
    assert observe.last_seq() == seqs[-1]


def test_reset_forgets_what_recorders_counted(monkeypatch):
    monkeypatch.setattr(observe, "_counters", observe.collections.Counter())
    monkeypatch.setattr(observe, "_tally", {})
    monkeypatch.setattr(observe, "_cells", {})
    rec = observe.recorder("broadcast", group="g", rank=0, algorithm="ring", nbytes=4)
    rec(1.0)
    rec(1.0)
    observe.reset()
    assert observe.counters().get("broadcast.count", 0) == 0 and not observe.events()
    rec(0.5)
    c = observe.counters()
    assert c["broadcast.count"] == 1 and c["broadcast.ring.count"] == 1 and c["broadcast.seconds"] == 0.5
    assert [e.seconds for e in observe.events()] == [0.5]


def test_gpu_groups_time_between_events_around_their_kernels(monkeypatch):
    """CudaGroup._timed with stand-in events (the group itself needs a GPU): nothing recorded while device
    timing is off; on, a start and an end event on the collective's stream around its kernels."""
    from vibetensor.fabric.collectives import cuda_group

    class Ev(FakeEvent):
        def __init__(self, enable_timing=False):
            super().__init__()
            assert enable_timing

        def record(self, stream):
            stream.append(self)
            self.ms, self.done = float(len(stream)), True

    monkeypatch.setattr(cuda_group.tcuda, "Event", Ev)
    monkeypatch.setattr(observe, "_counters", observe.collections.Counter())
    monkeypatch.setattr(observe, "_pending", observe.collections.deque())
    monkeypatch.setattr(observe, "_tally", {})
    monkeypatch.setattr(observe, "_device_timing", False)
    g, stream = object.__new__(cuda_group.CudaGroup), []
    with g._timed("all_reduce", stream):
        stream.append("kernel")
    assert stream == ["kernel"] and "all_reduce.seconds" not in observe.counters()
    observe.device_timing(True)
    with g._timed("all_reduce", stream):
        stream += ["kernel", "kernel"]
    assert stream[1:] == [stream[1], "kernel", "kernel", stream[4]] and isinstance(stream[4], Ev)
    assert abs(observe.counters()["all_reduce.seconds"] - 3e-3) < 1e-12  # events 2 and 5: 3 ms apart
