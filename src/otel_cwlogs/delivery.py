"""Delivery: what the processor's threads call to encode records and to try a request.

One small interface, two implementations: :class:`CloudWatchDelivery` (our exporter: records
become events per CloudWatch stream, and each attempt is one PutLogEvents call) and
:class:`ExporterDelivery` (any other exporter: records are batched as they are, into its
``export``, as the stock processor does). An attempt never raises and counts nothing: what it
did comes back as an :class:`~.scheduler.Outcome` for the scheduler and a tally that
:meth:`Delivery.count` applies to the exporter's counters, once the processor has accepted it
(an attempt that outlived the shutdown is not counted: its records were already).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from ._diag import RateLimitedLog
from ._sdk import ExportResult
from .batching import DEFAULT_LIMITS, plan_requests
from .client import DeliveryError, SendAgain
from .events import SIZE, LogEvent
from .exporter import CloudWatchLogExporter
from .intake import SLOTS, records_and_bytes, records_in
from .routing import Route
from .scheduler import Item, Kind, Outcome

_SIZE = itemgetter(SIZE)


@dataclass
class Encoded:
    """Records turned into items per stream."""

    groups: dict[Hashable, tuple[list[Item], int]]
    """Items and their total size, per stream."""
    events: int
    event_bytes: int
    dropped: int
    """Records the encoder dropped (counted by the exporter)."""
    notes: Counter[str] = field(default_factory=Counter)


@dataclass
class Tally:
    """What one attempt adds to the exporter's counters."""

    delivered: int = 0
    requests: int = 0
    failed: int = 0
    duplicates: int = 0
    entity_rejected: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)


class Delivery(Protocol):
    spool_capable: bool
    """Whether its requests can be written to the spool (CloudWatch events with a route)."""
    max_request_bytes: int

    def encode(self, entries: Sequence[Any]) -> Encoded:
        """The records of a run of the queue's entries (:mod:`.intake`), encoded."""

    def count_encoded(self, records: int, encoded: Encoded) -> None: ...
    def report_encoded(self, encoded: Encoded) -> None: ...
    def attempt(
        self, key: Hashable, items: Sequence[Item], copies: int
    ) -> tuple[Outcome, Tally | None]:
        """One try of a request; ``copies``: how many copies of these events CloudWatch may
        hold already (each is a possible duplicate once they are delivered)."""

    def count(self, tally: Tally | None) -> None: ...
    def report_failure(self, key: Hashable, error: Exception, count: int, hint: str) -> None: ...
    def forget(self, key: Hashable) -> None: ...


class CloudWatchDelivery:
    """Events per CloudWatch stream, through :class:`CloudWatchLogExporter`'s parts."""

    spool_capable = True
    max_request_bytes = DEFAULT_LIMITS.max_request_bytes

    def __init__(self, exporter: CloudWatchLogExporter) -> None:
        self.exporter = exporter

    def encode(self, entries: Sequence[Any]) -> Encoded:
        by_route, notes = self.exporter.encode_batch(records_in(entries), _now_ms())
        groups: dict[Hashable, tuple[list[Item], int]] = {}
        events = event_bytes = 0
        for route, route_events in by_route.items():
            sizes = list(map(_SIZE, route_events))
            size = sum(sizes)
            groups[route] = (list(zip(route_events, sizes)), size)
            events += len(sizes)
            event_bytes += size
        dropped = self.exporter.dropped_in(notes)
        return Encoded(groups, events, event_bytes, dropped, notes)

    def count_encoded(self, records: int, encoded: Encoded) -> None:
        self.exporter.count_encoded(records, encoded.events, encoded.notes)

    def report_encoded(self, encoded: Encoded) -> None:
        self.exporter.report_encoded(encoded.notes)

    def attempt(
        self, key: Hashable, items: Sequence[Item], copies: int
    ) -> tuple[Outcome, Tally | None]:
        assert isinstance(key, Route)
        events: list[LogEvent] = [event for event, _ in items]
        exporter = self.exporter
        edge = exporter.edge
        plan = plan_requests(events, _now_ms(), retention_days=edge.known_retention(key.group))
        tally = Tally(dropped=plan.dropped)
        if not plan.requests:
            return Outcome(Kind.DONE), tally
        first = plan.requests[0]
        rest = [event for request in plan.requests[1:] for event in request]
        started = exporter.metrics_start(len(first))
        try:
            result = edge.attempt(key, first)
        except SendAgain as again:
            exporter.metrics_finish(started, len(first), 0, {})
            return Outcome(Kind.AGAIN, _items(first + rest), after_s=again.after_s), tally
        except DeliveryError as exc:
            tally.failed = 1
            if exc.retryable:
                tally.retries[exc.code] += 1
            kind = Kind.RETRY if exc.retryable else Kind.FAILED
            failed = {} if exc.retryable else {exc.code: len(first)}
            exporter.metrics_finish(started, len(first), 0, failed, exc.code)
            outcome = Outcome(
                kind,
                _items(first + rest),
                throttled=exc.throttled,
                maybe_sent=exc.maybe_sent,
                keep=not exc.invalid,
                error=exc,
            )
            return outcome, tally
        tally.requests = 1
        tally.delivered = result.delivered
        tally.duplicates = result.delivered * copies
        tally.dropped.update(result.rejected)
        if result.entity_rejected:
            tally.entity_rejected = 1
            exporter.report_entity_rejected(key, result.entity_rejected)
        exporter.metrics_finish(started, len(first), result.delivered, result.rejected)
        if tally.dropped:
            exporter.report_dropped(tally.dropped)
        if rest:
            return Outcome(Kind.AGAIN, _items(rest)), tally
        return Outcome(Kind.DONE), tally

    def count(self, tally: Tally | None) -> None:
        if tally is not None:
            self.exporter.count_attempt(tally)

    def report_failure(self, key: Hashable, error: Exception, count: int, hint: str) -> None:
        if isinstance(key, Route) and isinstance(error, DeliveryError):
            self.exporter.report_failure(key, error, count, hint)

    def forget(self, key: Hashable) -> None:
        if isinstance(key, Route):
            self.exporter.edge.forget(key)


class ExporterDelivery:
    """Batches of records, as they are, into any other exporter's ``export``."""

    spool_capable = False
    max_request_bytes = 2**62

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter
        self._report = RateLimitedLog()

    def encode(self, entries: Sequence[Any]) -> Encoded:
        count, size = records_and_bytes(entries)
        items = list(zip(records_in(entries), entries[::SLOTS]))
        return Encoded({None: (items, size)}, count, size, 0)

    def count_encoded(self, records: int, encoded: Encoded) -> None:
        """Nothing to count: the exporter is not ours."""

    def report_encoded(self, encoded: Encoded) -> None:
        """Nothing to report: records are handed over as they are."""

    def attempt(
        self, key: Hashable, items: Sequence[Item], copies: int
    ) -> tuple[Outcome, Tally | None]:
        try:
            result = self.exporter.export([item for item, _ in items])
        except Exception:
            self._report.log("export", logging.ERROR, "the exporter raised", exc_info=True)
            result = ExportResult.FAILURE
        if getattr(result, "name", "SUCCESS") == "SUCCESS":
            return Outcome(Kind.DONE), None
        return Outcome(Kind.FAILED, list(items), keep=False, drop_reason="export_failed"), None

    def count(self, tally: Tally | None) -> None:
        """Nothing to count: the exporter is not ours."""

    def report_failure(self, key: Hashable, error: Exception, count: int, hint: str) -> None:
        """Its failures have no cause to report (a raise is reported where it happens)."""

    def forget(self, key: Hashable) -> None:
        """Nothing is kept per stream."""


def _items(events: list[LogEvent]) -> list[Item]:
    return [(event, event[SIZE]) for event in events]


def _now_ms() -> int:
    return int(time.time() * 1000)
