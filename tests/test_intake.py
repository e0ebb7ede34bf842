"""The intake: its bounds, its closing, and the ledger's identity through any transitions."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from otel_cwlogs.intake import Intake


def intake(max_records: int = 10**9, max_bytes: int = 10**15) -> Intake:
    return Intake(max_records, max_bytes, 10**9, threading.Event())


def test_a_record_after_closing_is_counted_as_dropped_never_queued() -> None:
    """The closing and the append are decided under the same lock (the old processor looked
    at its shutdown flag outside it, and could queue a record after counting what was left)."""
    queue = intake()
    assert queue.admit("before", 10) is None
    queue.close()
    assert queue.admit("after", 10) == "after_shutdown"
    assert queue.finalize("undelivered_at_shutdown") == 1
    assert queue.dropped == {"after_shutdown": 1, "undelivered_at_shutdown": 1}
    assert queue.take() is None
    assert queue.balanced


def test_bounds_count_what_waits_not_what_is_being_sent() -> None:
    queue = intake(max_records=3, max_bytes=1000)
    for _ in range(3):
        assert queue.admit("r", 10) is None
    assert queue.admit("r", 10) == "queue_full"
    queue.take()
    queue.encoded(3, 30, 3, 30, 0)
    queue.started(3, 0)  # a request of three is being sent: room again
    assert queue.admit("r", 10) is None
    assert queue.admit("big", 2000) == "queue_full"  # the byte bound
    assert queue.balanced


Step = st.one_of(
    st.tuples(st.just("admit"), st.integers(1, 5)),
    st.tuples(st.just("encode"), st.integers(0, 3)),
    st.tuples(st.just("start"), st.integers(1, 5)),
    st.tuples(st.just("park"), st.integers(1, 5)),
    st.tuples(
        st.sampled_from(["exported", "spooled", "queue_full", "returned"]), st.integers(1, 5)
    ),
    st.tuples(st.just("claim"), st.integers(1, 5)),
    st.tuples(st.just("corrupt"), st.integers(1, 5)),
    st.tuples(st.just("close"), st.just(0)),
)


@given(st.lists(Step, max_size=60))
def test_the_identity_holds_through_any_transitions(steps: list[tuple[str, int]]) -> None:
    queue = intake()
    from_disk = 0  # of the held and active events, those claimed from the spool
    for step, number in steps:
        if step == "admit":
            for _ in range(number):
                queue.admit("r", 10)
        elif step == "encode" and queue.take() is not None:
            records = queue.queued
            # each record becomes 0 to 3 events, or is dropped by the encoder
            events = records * number
            queue.encoded(records, records * 10, events, events * 10, records if not number else 0)
        elif step == "start":
            count = min(number, queue.held)
            queue.started(count, 5)
            queue.parked(count, 5)
            queue.started(count, 0)
        elif step == "park":
            queue.parked(min(number, queue.active), 0)
        elif step == "claim":
            queue.claimed_from_disk(number, number * 10)
            from_disk += number
        elif step == "corrupt":
            queue.corrupt(number)
        elif step == "close":
            queue.close()
        elif step == "returned":
            count = min(number, queue.active, from_disk)
            queue.settled(count, count * 10, "returned", from_disk=True)
            from_disk -= count
        else:
            own = queue.active - min(from_disk, queue.active)
            count = min(number, own)
            queue.settled(count, count * 10, step)
        assert queue.balanced
        assert min(queue.queued, queue.held, queue.active, queue.claimed) >= 0
    queue.finalize("undelivered_at_shutdown")
    assert queue.balanced
