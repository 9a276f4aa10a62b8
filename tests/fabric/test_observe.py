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
