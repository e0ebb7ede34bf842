"""Events for one log stream -> PutLogEvents requests that CloudWatch accepts whole.

Pure functions: no I/O, no threads, no clock (the caller passes "now").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter

from .events import SIZE, TIMESTAMP, LogEvent

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Limits:
    """PutLogEvents limits (AWS values by default)."""

    max_request_bytes: int = 1_048_576
    """UTF-8 message bytes + 26 per event, summed over a request."""
    max_request_events: int = 10_000
    max_span_ms: int = DAY_MS
    """A request's newest event is less than this after its oldest."""
    max_future_ms: int = 2 * HOUR_MS
    max_age_ms: int = 14 * DAY_MS
    margin_ms: int = 5 * 60_000
    """Kept from both age edges, for clock skew and for time spent retrying."""


DEFAULT_LIMITS = Limits()


@dataclass
class Plan:
    """The requests to send, oldest first, and what was set aside, by reason."""

    requests: list[list[LogEvent]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def event_count(self) -> int:
        return sum(len(r) for r in self.requests)


def plan_requests(
    events: Iterable[LogEvent],
    now_ms: int,
    *,
    retention_days: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """Split events for one stream into requests that satisfy every PutLogEvents limit.

    Events are sorted by timestamp, keeping the given order among equal timestamps. Events
    CloudWatch would reject are set aside and counted: ``too_new`` (more than 2 h ahead),
    ``too_old`` (more than 14 days back), ``expired`` (older than ``retention_days``, when
    the group's retention is known), ``oversize`` (larger than a whole request; the encoder
    never makes one). Requests are filled greedily, so at volume they are full.
    """
    plan = Plan()
    newest = now_ms + limits.max_future_ms - limits.margin_ms
    oldest = now_ms - limits.max_age_ms + limits.margin_ms
    expired_before = None
    if retention_days is not None:
        expired_before = now_ms - retention_days * DAY_MS + limits.margin_ms
    kept: list[LogEvent] = []
    for event in events:
        ts = event[TIMESTAMP]
        if ts > newest:
            plan.dropped["too_new"] += 1
        elif ts < oldest:
            plan.dropped["too_old"] += 1
        elif expired_before is not None and ts < expired_before:
            plan.dropped["expired"] += 1
        elif event[SIZE] > limits.max_request_bytes:
            plan.dropped["oversize"] += 1
        else:
            kept.append(event)
    kept.sort(key=itemgetter(TIMESTAMP))

    current: list[LogEvent] = []
    size = 0
    first_ts = 0
    for event in kept:
        ts, _, event_size = event
        if current and (
            len(current) >= limits.max_request_events
            or size + event_size > limits.max_request_bytes
            or ts - first_ts >= limits.max_span_ms
        ):
            plan.requests.append(current)
            current = []
            size = 0
        if not current:
            first_ts = ts
        current.append(event)
        size += event_size
    if current:
        plan.requests.append(current)
    return plan
