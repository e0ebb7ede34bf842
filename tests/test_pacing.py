"""The creation pace: slots in order, a gate that spaces the calls, throttling."""

from __future__ import annotations

import threading

import pytest

from otel_cwlogs.pacing import CREATE_LOG_STREAM_RATE, Slots


def test_slots_are_reserved_in_order_one_interval_apart() -> None:
    slots = Slots(CREATE_LOG_STREAM_RATE)
    assert slots.interval == pytest.approx(0.022)
    assert [slots.reserve(10.0) for _ in range(4)] == pytest.approx([10.0, 10.022, 10.044, 10.066])
    assert slots.reserve(20.0) == 20.0  # a quiet quota: at once


def test_the_gate_spaces_calls_that_come_together() -> None:
    slots = Slots(50)
    assert slots.start(5.0) == (True, 0.0)
    assert slots.start(5.0) == (True, pytest.approx(0.022))  # the caller's, after the wait
    assert slots.start(5.0) == (False, pytest.approx(0.044))  # another waits: come back then
    assert slots.start(5.01) == (False, pytest.approx(0.034))
    assert slots.start(5.022) == (True, pytest.approx(0.022))  # the waiting one began
    assert slots.start(5.1) == (True, 0.0)


def test_throttling_doubles_the_spacing_once_a_second_and_calls_bring_it_back() -> None:
    slots = Slots(10)
    for _ in range(5):
        slots.throttled(1.0)
    assert slots.interval == pytest.approx(0.22)
    slots.throttled(2.0)
    assert slots.interval == pytest.approx(0.44)
    for _ in range(10):
        slots.accepted()
    assert slots.interval == pytest.approx(0.11)


def test_threads_get_distinct_slots() -> None:
    slots = Slots(50)
    got: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(100):
            at = slots.reserve(0.0)
            with lock:
                got.append(at)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == pytest.approx([n * 0.022 for n in range(800)])
