"""The scheduler's decisions, at the instant they are made: a fake clock, no threads, no I/O."""

from __future__ import annotations

import pytest

from otel_cwlogs.scheduler import Claim, Discard, Kind, Outcome, Send, Spool

from .engine import SIZE, Engine, only, payloads


def test_a_stream_is_due_at_its_first_record_plus_the_delay() -> None:
    engine = Engine(delay_s=1.0)
    engine.emit("s")
    assert engine.poll(0.999) == []
    engine.now = 0.5
    engine.emit("s")  # a later record does not move the due time
    (request,) = engine.sends(1.0)
    assert len(request.items) == 2
    assert engine.scheduler.next_wakeup(1.0) > 1.0


def test_a_full_request_goes_at_once_and_the_rest_waits_for_the_delay() -> None:
    engine = Engine(delay_s=1.0)
    engine.emit("s", 13)
    (request,) = engine.sends(0.0)
    assert len(request.items) == 10
    engine.deliver(request)
    assert engine.sends(0.5) == []
    (rest,) = engine.sends(1.0)
    assert len(rest.items) == 3


def test_requests_are_cut_by_bytes_as_well_as_count() -> None:
    engine = Engine(max_events=100, max_bytes=4 * SIZE)
    engine.emit("s", 9)
    (request,) = engine.sends(0.0)
    assert len(request.items) == 4


def test_a_rate_of_5_spaces_a_streams_requests_0_22_s_apart() -> None:
    engine = Engine(rate=5)
    engine.emit("s", 50)  # five full requests, all due now
    starts = []
    while len(starts) < 5:
        for request in engine.sends():
            starts.append(engine.now)
            engine.deliver(request)
        engine.now = engine.scheduler.next_wakeup(engine.now)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([1.1 / 5] * 4)


def test_a_stream_waiting_for_its_pace_holds_no_slot() -> None:
    engine = Engine(rate=5, max_in_flight=2)
    engine.emit("a", 20)
    first = engine.sends(0.0)
    assert [r.stream.key for r in first] == ["a"]
    engine.deliver(first[0])
    engine.emit("b", 10)
    engine.emit("c", 10)
    started = engine.sends()  # "a" waits for its pace: both slots go to the others
    assert sorted(r.stream.key for r in started) == ["b", "c"]


def test_many_streams_are_limited_by_the_slots_not_by_their_pace() -> None:
    """2,000 streams paced at 5 requests a second, 4 slots, each request taking 10 ms:
    everything goes out in 2000 / 4 * 10 ms = 5 s, as fast as the slots allow."""
    engine = Engine(rate=5, max_in_flight=4)
    for number in range(2000):
        engine.emit(f"tenant-{number}", 5)
    engine.now = 1.0  # their delay is up
    running: list[tuple[float, object]] = []
    sent = 0
    while sent < 2000:
        for request in engine.sends():
            running.append((engine.now + 0.01, request))
        assert len(running) <= 4
        running.sort(key=lambda entry: entry[0])
        done_at, request = running.pop(0)
        engine.now = done_at
        engine.deliver(request)  # type: ignore[arg-type]
        sent += 1
    assert engine.now == pytest.approx(1.0 + 5.0, abs=0.02)


def test_one_request_per_stream_at_a_time_and_in_order() -> None:
    engine = Engine()
    engine.emit("s", 30)
    (first,) = engine.sends(0.0)
    assert engine.sends() == []  # the stream is busy: its next request waits
    last = payloads(first)[-1]
    engine.deliver(first)
    (second,) = engine.sends()
    assert payloads(second)[0] == ("s", last[1] + 1)


def test_a_failed_request_goes_back_in_front_after_the_backoff() -> None:
    engine = Engine()
    engine.emit("s", 25)
    (first,) = engine.sends(0.0)
    engine.fail(first, Kind.RETRY, throttled=True)
    retry_at = engine.scheduler.streams["s"].retry_at
    assert 0.0 <= retry_at <= 0.05  # the first backoff: up to 50 ms, full jitter
    assert engine.sends(retry_at - 0.001) == []
    (again,) = engine.sends(retry_at)
    assert again is first
    assert payloads(again) == [("s", n) for n in range(10)]


def test_backoff_grows_by_one_formula_up_to_its_cap() -> None:
    engine = Engine()
    engine.emit("s", 10)
    waits = []
    for _ in range(12):
        (request,) = engine.next_sends()
        engine.fail(request)
        waits.append(engine.scheduler.streams["s"].retry_at - engine.now)
    policy = engine.settings.policy
    assert all(0 <= w <= min(5.0, 0.05 * 2**n) for n, w in enumerate(waits))
    assert max(waits) > 1.0
    assert policy.delay(20, 0.999) <= 5.0


def test_an_attempt_asking_to_be_sent_again_goes_again_within_the_pace() -> None:
    engine = Engine(rate=5)
    engine.emit("s", 10)
    (request,) = engine.sends(0.0)
    engine.scheduler.sent(request, Outcome(Kind.AGAIN, list(request.items)), 0.01)
    assert engine.sends(0.1) == []
    (again,) = engine.sends(1.1 / 5)
    assert again is request


def test_asking_again_and_again_counts_as_a_failure() -> None:
    engine = Engine()
    engine.emit("s", 5)
    for _ in range(engine.settings.max_again):
        (request,) = engine.next_sends()
        engine.scheduler.sent(request, Outcome(Kind.AGAIN, list(request.items)), engine.now)
    (request,) = engine.next_sends()
    engine.scheduler.sent(request, Outcome(Kind.AGAIN, list(request.items)), engine.now)
    assert engine.scheduler.streams["s"].retry_at >= engine.now
    assert engine.scheduler.streams["s"].failures == 1


def test_a_send_again_later_waits_holding_no_slot_and_is_not_a_failure() -> None:
    engine = Engine(rate=0, max_in_flight=1)
    engine.emit("s", 5)
    (request,) = engine.sends(1.0)
    for _ in range(engine.settings.max_again + 2):  # waits do not count towards max_again
        engine.scheduler.sent(
            request, Outcome(Kind.AGAIN, list(request.items), after_s=2.0), engine.now
        )
        engine.emit("other")
        (other,) = engine.sends(engine.now + 1.0)  # the only slot is free for another stream
        assert other.stream.key == "other"
        engine.deliver(other)
        assert engine.sends(engine.now + 0.999) == []
        (request,) = engine.sends(engine.now + 0.001)
        assert request.stream.key == "s"
    stream = engine.scheduler.streams["s"]
    assert stream.failures == 0
    engine.deliver(request)
    assert engine.scheduler.settled
    assert engine.balanced()


def test_a_lasting_failure_is_dropped_without_a_spool_and_counted() -> None:
    engine = Engine()
    engine.emit("s", 4)
    (request,) = engine.sends(1.0)
    engine.fail(request, Kind.FAILED, drop_reason="undeliverable")
    assert engine.intake.dropped == {"undeliverable": 4}
    assert engine.scheduler.settled
    assert engine.balanced()


def test_a_partial_outcome_settles_what_was_done_and_keeps_the_rest() -> None:
    engine = Engine()
    engine.emit("s", 10)
    (request,) = engine.sends(0.0)
    engine.scheduler.sent(request, Outcome(Kind.AGAIN, request.items[6:]), 0.0)
    assert engine.intake.exported == 6
    (rest,) = engine.sends()
    assert payloads(rest) == [("s", n) for n in range(6, 10)]
    assert engine.balanced()


# -- the spool -----------------------------------------------------------------------------


def spooling_engine(**settings: object) -> Engine:
    return Engine(spool=True, handover_s=2.0, disk_key=lambda key: f"key-{key}", **settings)


def test_a_request_failing_past_the_handover_goes_to_the_spool() -> None:
    engine = spooling_engine()
    engine.emit("s", 10)
    (request,) = engine.sends(0.0)
    while True:
        engine.fail(request)
        stream = engine.scheduler.streams["s"]
        if request.to_disk:
            break
        assert stream.retry_at < 2.0  # a try that would come after the handover is not made
        (request,) = engine.sends(stream.retry_at)
    assert engine.now < 2.0
    (spool,) = only(engine.poll(), Spool)
    assert spool.request is request
    engine.spooled(request)
    assert engine.intake.spooled == 10
    assert engine.balanced()


def test_a_lasting_failure_goes_to_the_spool_unless_the_service_called_it_invalid() -> None:
    engine = spooling_engine()
    engine.emit("kept", 3)
    engine.emit("invalid", 2)
    kept, invalid = sorted(engine.sends(1.0), key=lambda r: str(r.stream.key))[::-1]
    engine.fail(kept, Kind.FAILED, keep=True)
    engine.fail(invalid, Kind.FAILED, keep=False, drop_reason="undeliverable")
    (spool,) = only(engine.poll(), Spool)
    assert spool.request is kept
    assert engine.intake.dropped == {"undeliverable": 2}


def test_while_the_spool_holds_a_streams_segments_its_new_requests_go_there_too() -> None:
    engine = spooling_engine()
    engine.claimed(None, on_disk=frozenset({"key-s"}))  # an earlier process left some
    engine.emit("s", 10)
    (spool,) = only(engine.poll(), Spool)  # not sent: behind what is on disk
    engine.spooled(spool.request)
    engine.now = 5.0
    engine.emit("s", 10)
    engine.claimed(None, on_disk=frozenset({"key-s"}), looked_at=4.0)  # still there
    (spool,) = only(engine.poll(), Spool)
    engine.spooled(spool.request)
    engine.now = 6.0
    engine.claimed(None, on_disk=frozenset(), looked_at=6.0)  # all delivered by now
    engine.emit("s", 10)
    assert only(engine.poll(), Send)  # memory again, in order behind what went first


def test_a_look_that_began_before_the_last_write_does_not_end_spooling() -> None:
    engine = spooling_engine()
    engine.claimed(None, on_disk=frozenset({"key-s"}))
    engine.emit("s", 10)
    (spool,) = only(engine.poll(1.0), Spool)
    engine.now = 2.0
    engine.spooled(spool.request)
    engine.claimed(None, on_disk=frozenset(), looked_at=1.5)  # began before the write ended
    engine.emit("s", 10)
    assert only(engine.poll(), Spool)


def test_a_refused_write_is_sent_instead_once_nothing_older_is_on_disk() -> None:
    engine = spooling_engine()
    engine.claimed(None, on_disk=frozenset({"key-s"}))
    engine.emit("s", 30)
    (first,) = only(engine.poll(0.0), Spool)
    engine.spooled(first.request, "disk_full")
    stream = engine.scheduler.streams["s"]
    (again,) = only(engine.poll(stream.retry_at), Spool)  # older events are on disk: wait
    assert again.request is first.request
    engine.now += 0.5
    engine.spooled(again.request, "disk_full")
    engine.now += 0.5
    engine.claimed(None, on_disk=frozenset())  # what was on disk is delivered
    (sent,) = engine.sends(engine.now + 10)
    assert sent is first.request
    assert payloads(sent) == [("s", n) for n in range(10)]
    engine.deliver(sent)
    (second,) = engine.sends()
    assert payloads(second) == [("s", n) for n in range(10, 20)]
    assert engine.intake.dropped == {}


def test_a_refused_write_of_a_failing_stream_is_sent_instead() -> None:
    engine = spooling_engine()
    engine.emit("s", 10)
    (request,) = engine.sends(0.0)
    engine.fail(request, Kind.FAILED, keep=True)
    (spool,) = only(engine.poll(), Spool)
    engine.spooled(spool.request, "spool_unwritable")
    engine.claimed(None, on_disk=frozenset(), looked_at=engine.now + 0.1)
    (again,) = engine.sends(engine.now + 10)
    assert again is request


def test_a_claimed_segment_goes_first_and_is_removed_once_delivered() -> None:
    engine = spooling_engine()
    engine.emit("s", 3)
    (claim,) = only(engine.poll(0.0), Claim)
    old = [(("s", -3 + n), SIZE) for n in range(3)]
    engine.claimed("s", old)
    (request,) = engine.sends(0.0)
    assert request.from_disk
    assert payloads(request) == [("s", -3), ("s", -2), ("s", -1)]
    (discard,) = engine.deliver(request)
    assert isinstance(discard, Discard)
    assert engine.intake.unspooled == 3
    (own,) = engine.sends(1.0)
    assert payloads(own) == [("s", 0), ("s", 1), ("s", 2)]
    assert claim == Claim()


def test_a_claimed_segment_that_fails_goes_back_to_the_spool_at_once() -> None:
    engine = spooling_engine()
    engine.poll(0.0)
    engine.claimed("s", [(("s", -1), SIZE)])
    (request,) = engine.sends(0.0)
    engine.fail(request)
    (back,) = only(engine.poll(), Spool)
    assert back.request is request
    assert request.returns_segment()
    engine.spooled(request)
    assert (engine.intake.claimed, engine.intake.unspooled, engine.intake.spooled) == (0, 0, 0)
    assert engine.balanced()


def test_overflow_spools_only_full_requests_of_streams_that_wait() -> None:
    engine = spooling_engine(rate=5, max_in_flight=8)
    engine.emit("paced", 10)
    (request,) = engine.sends(0.0)
    engine.deliver(request)  # "paced" now waits for its pace
    engine.emit("paced", 25)  # two full requests waiting
    engine.emit("small", 3)  # not full: waits for the delay
    actions = engine.poll(pressure=True)
    (spill,) = only(actions, Spool)
    assert spill.request.stream.key == "paced"
    assert len(spill.request.items) == 10
    assert engine.poll(pressure=False) == []


def test_a_claim_that_finds_nothing_looks_again_later() -> None:
    engine = spooling_engine(claim_idle_s=2.0)
    (claim,) = only(engine.poll(0.0), Claim)
    engine.claimed(None)
    assert engine.poll(1.9) == []
    assert only(engine.poll(2.0), Claim) == [claim]


# -- flushes, idle streams, the shutdown ---------------------------------------------------


def test_a_flush_makes_its_streams_due_now_and_ends_when_they_are_settled() -> None:
    engine = Engine(delay_s=60.0)
    engine.emit("a", 3)
    engine.emit("b", 2)
    engine.scheduler.begin_flush("f", engine.intake.enqueued)
    requests = engine.sends(0.0)
    assert sorted(r.stream.key for r in requests) == ["a", "b"]
    engine.emit("a", 1)  # after the flush: not waited for
    engine.deliver(requests[0])
    assert engine.scheduler.finished_flushes() == []
    engine.deliver(requests[1])
    assert engine.scheduler.finished_flushes() == [("f", True)]
    assert engine.sends() == []  # the later record waits for its delay


def test_a_flush_waits_for_records_not_taken_yet() -> None:
    engine = Engine()
    engine.scheduler.begin_flush("f", 3)  # three records queued, none taken yet
    assert engine.scheduler.finished_flushes() == []
    engine.emit("a", 3)
    (request,) = engine.sends(0.0)
    engine.deliver(request)
    assert engine.scheduler.finished_flushes() == [("f", True)]


def test_a_flush_reports_a_failure() -> None:
    engine = Engine()
    engine.emit("a", 3)
    engine.scheduler.begin_flush("f", 3)
    (request,) = engine.sends(0.0)
    engine.fail(request, Kind.FAILED, drop_reason="undeliverable")
    assert engine.scheduler.finished_flushes() == [("f", False)]


def test_idle_streams_are_forgotten_and_busy_ones_are_not() -> None:
    engine = Engine(idle_s=60.0)
    for number in range(2000):
        engine.emit(f"tenant-{number}")
    engine.emit("busy", 5)
    while True:
        requests = [r for r in engine.sends(1.0) if r.stream.key != "busy"]
        if not requests:
            break
        for request in requests:
            engine.deliver(request)
    assert len(engine.scheduler.streams) == 2001
    engine.poll(62.0)
    assert set(engine.scheduler.streams) == {"busy"}  # its request is still out
    assert len(engine.scheduler.forgotten()) == 2000
    engine.emit("tenant-7")  # a stream that comes back is made anew
    assert "tenant-7" in engine.scheduler.streams


def test_at_shutdown_the_pace_gives_way_except_to_throttling() -> None:
    engine = Engine(delay_s=60.0, rate=5)
    engine.emit("fast", 20)
    engine.emit("throttled", 20)
    for request in engine.sends(0.0):
        if request.stream.key == "throttled":
            engine.fail(request, throttled=True)
        else:
            engine.deliver(request)
    engine.scheduler.streams["throttled"].retry_at = 0.0
    engine.scheduler.close()
    (request,) = engine.sends(0.0)  # "fast" goes at once; "throttled" keeps its spacing
    assert request.stream.key == "fast"
    (request,) = engine.sends(2 * 1.1 / 5)
    assert request.stream.key == "throttled"


def test_closing_makes_everything_due_now_and_finish_returns_what_is_left() -> None:
    engine = Engine(delay_s=60.0, rate=5)
    engine.emit("a", 15)
    engine.emit("b", 3)
    engine.scheduler.close()
    sent = engine.sends(0.0)
    assert sorted(r.stream.key for r in sent) == ["a", "b"]
    left = engine.scheduler.finish()
    assert sorted((r.stream.key, len(r.items), active) for r, active in left) == [
        ("a", 5, False),
        ("a", 10, True),
        ("b", 3, True),
    ]
    assert all(r.abandoned for r, active in left if active)
    for request, active in left:
        engine.scheduler.settle_leftover(request, active, "undelivered_at_shutdown")
    assert engine.balanced()
    assert engine.poll() == []


def test_a_streams_last_segment_taken_from_disk_ends_its_spooling() -> None:
    engine = spooling_engine()
    engine.claimed(None, on_disk=frozenset({"key-s"}))  # an earlier process left one
    engine.now = 1.0
    engine.claimed("s", [(("s", -1), SIZE)], on_disk=frozenset())  # its only segment
    engine.emit("s", 2)
    (old,) = engine.sends(2.0)
    assert payloads(old) == [("s", -1)]
    engine.deliver(old)
    (new,) = engine.sends()  # from memory, behind it: not written to disk
    assert payloads(new) == [("s", 0), ("s", 1)]
