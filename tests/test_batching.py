from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_cwlogs.batching import DAY_MS, HOUR_MS, Limits, plan_requests
from otel_cwlogs.events import MESSAGE, SIZE, TIMESTAMP, LogEvent, make_event

from .limits import request_problems

NOW = 1_800_000_000_000
MARGIN = Limits().margin_ms


def as_body(request: list[LogEvent]) -> dict[str, object]:
    return {"logEvents": [{"timestamp": e[TIMESTAMP], "message": e[MESSAGE]} for e in request]}


def check_plan(events: list[LogEvent], retention_days: int | None = None) -> None:
    plan = plan_requests(events, NOW, retention_days=retention_days)
    for request in plan.requests:
        assert request_problems(as_body(request), now_ms=NOW) == []
    sent = [e for r in plan.requests for e in r]
    # every kept event is sent exactly once, and equal timestamps keep their given order
    assert sent == sorted(sent, key=lambda e: e[TIMESTAMP])
    expected_kept = [e for e in events if _reason(e, retention_days) is None]
    assert sorted(map(id, sent)) == sorted(map(id, expected_kept))
    for ts in {e[TIMESTAMP] for e in sent}:
        assert [id(e) for e in sent if e[TIMESTAMP] == ts] == [
            id(e) for e in expected_kept if e[TIMESTAMP] == ts
        ]
    reasons = Counter(_reason(e, retention_days) for e in events)
    reasons.pop(None, None)
    assert plan.dropped == reasons
    assert plan.event_count + sum(plan.dropped.values()) == len(events)


def _reason(event: LogEvent, retention_days: int | None) -> str | None:
    if event[TIMESTAMP] > NOW + 2 * HOUR_MS - MARGIN:
        return "too_new"
    if event[TIMESTAMP] < NOW - 14 * DAY_MS + MARGIN:
        return "too_old"
    if retention_days is not None and event[TIMESTAMP] < NOW - retention_days * DAY_MS + MARGIN:
        return "expired"
    if event[SIZE] > 1_048_576:
        return "oversize"
    return None


messages = st.one_of(
    st.text(min_size=1, max_size=40),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "日", "😀"]), st.integers(1, 300_000)),
)
timestamps = st.integers(NOW - 16 * DAY_MS, NOW + 3 * HOUR_MS)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.builds(make_event, timestamps, messages), max_size=60),
    st.sampled_from([None, 1, 3, 7, 30]),
)
def test_requests_always_satisfy_every_limit(
    events: list[LogEvent], retention_days: int | None
) -> None:
    check_plan(events, retention_days)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(NOW - 13 * DAY_MS, NOW + HOUR_MS), min_size=1, max_size=25_000))
def test_many_small_events_across_days(stamps: list[int]) -> None:
    check_plan([make_event(ts, "x" * (ts % 7 + 1)) for ts in stamps])


def test_requests_are_full_at_volume() -> None:
    events = [make_event(NOW, "x" * 974) for _ in range(5000)]  # 1000 bytes each with overhead
    plan = plan_requests(events, NOW)
    assert [len(r) for r in plan.requests] == [1048, 1048, 1048, 1048, 808]
    events = [make_event(NOW + i, "y") for i in range(25_000)]
    assert [len(r) for r in plan_requests(events, NOW).requests] == [10_000, 10_000, 5000]


def test_exact_byte_limit_is_allowed() -> None:
    big = make_event(NOW, "z" * (1_048_576 - 26 - 27))
    small = make_event(NOW, "a")
    plan = plan_requests([big, small], NOW)
    assert len(plan.requests) == 1
    plan = plan_requests([big, small, small], NOW)
    assert [len(r) for r in plan.requests] == [2, 1]


def test_span_over_a_day_starts_a_new_request() -> None:
    stamps = [NOW - 3 * DAY_MS, NOW - 2 * DAY_MS - 1, NOW - 2 * DAY_MS, NOW]
    plan = plan_requests([make_event(ts, "m") for ts in stamps], NOW)
    assert [[e[TIMESTAMP] for e in r] for r in plan.requests] == [stamps[:2], stamps[2:3], [NOW]]


def test_an_event_larger_than_a_request_is_set_aside() -> None:
    plan = plan_requests([make_event(NOW, "x" * 1_048_576)], NOW)
    assert plan.requests == []
    assert plan.dropped == Counter(oversize=1)
