"""The processor's intake: the bounded queue of records, and the ledger of where each one is.

Everything here happens under one lock, the only one the application's threads take: a
record is either appended to the queue or counted as dropped, and from then on the ledger
knows it in exactly one state:

- **queued**: in the queue, or taken by the drain thread and being encoded;
- **held**: encoded into an event that waits in its stream (its buffer, or a request put back
  to be tried again);
- **active**: in a request being sent, or being written to the spool;
- and, for good: **exported** (the exporter is done with it: delivered, or dropped by the
  exporter for a reason it counts), **spooled** (on disk), or **dropped** with a reason.

Events taken back from the spool are **claimed** while this process holds them (held or
active), and **unspooled** once delivered or written anew. A split record becomes several
events; the extra ones are counted as such. So at every moment::

    received + unspooled + claimed + extra
        == queued + held + active + exported + spooled + dropped

(:attr:`Intake.balanced`), and once nothing is queued, held or active, what the processor
reports as ``received + unspooled == delivered + dropped_total + spooled`` holds. Sizes are
estimates of memory (see :mod:`.processor`), bounded by ``max_bytes``; the count of queued
and held records is bounded by ``max_records``, as a batch being exported no longer counts
against the stock processor's queue.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, TypeVar, cast

import wrapt

F = TypeVar("F", bound=Callable[..., Any])

AFTER_SHUTDOWN = "after_shutdown"
QUEUE_FULL = "queue_full"

DROP_REASONS = {
    "after_shutdown": "emitted after the processor was shut down",
    "invalid_record": "not a log record the SDK makes",
    "queue_full": "more than max_queue_size or max_queue_bytes waiting",
    "export_failed": "the exporter failed or raised",
    "undeliverable": "CloudWatch refused them for a lasting cause",
    "undelivered_at_shutdown": "not delivered when shutdown_timeout_millis ran out",
    "in_flight_at_shutdown": (
        "being sent when shutdown_timeout_millis ran out: CloudWatch may have them"
    ),
    "spool_full": "the spool directory is at spool_max_bytes",
    "disk_full": "the file system of the spool directory is full",
    "spool_unwritable": "the spool directory could not be written",
    "spool_corrupt": "a spool segment could not be read; renamed .bad",
}
"""The processor's drop reasons (the exporter's are its own), and what each means."""

SLOTS = 7
"""Entries of one record in the queue: its size, the record, and five Nones; or its size and
the six parts of what :class:`~otel_cwlogs.LoggingHandler` captured of it (:mod:`.capture`).

The queue is flat so that a waiting record is no object of its own: during a burst the
garbage collector has nothing per record to go through (a tuple per record made each full
collection of the application's heap longer, and brought the next one sooner)."""
_NO_PARTS = (None, None, None, None, None)


def records_in(entries: Sequence[Any]) -> Iterator[Any]:
    """The records of a run of the queue's entries, one at a time (a capture as the plain
    tuple of its six parts, made when it is asked for)."""
    for start in range(0, len(entries), SLOTS):
        if entries[start + 3] is None:  # a record: a capture's third part is its time
            yield entries[start + 1]
        else:
            yield tuple(entries[start + 1 : start + SLOTS])


def records_and_bytes(entries: Sequence[Any]) -> tuple[int, int]:
    """How many records a run of the queue's entries holds, and their sizes' sum."""
    return len(entries) // SLOTS, sum(entries[::SLOTS])


@wrapt.decorator
def _with_lock(wrapped: Callable[..., Any], instance: Intake, args: Any, kwargs: Any) -> Any:
    with instance.lock:
        return wrapped(*args, **kwargs)


def _locked(method: F) -> F:
    """Run an :class:`Intake` method under its lock (a wrapt decorator: the signature stays)."""
    return cast(F, _with_lock(method))


class Intake:
    """The queue and the ledger (see the module's description)."""

    def __init__(
        self,
        max_records: int,
        max_bytes: int,
        wake_at: int,
        wake: threading.Event,
    ) -> None:
        self.lock = threading.Lock()
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._wake_at = wake_at * SLOTS
        self._wake = wake
        self._queue: collections.deque[Any] = collections.deque()
        """:data:`SLOTS` entries per record."""
        self._since = 0.0
        self.closed = False
        self.enqueued = 0
        """Records appended to the queue so far: a flush waits for those before it."""
        self.received = 0
        self.queued = 0
        self.held = 0
        self.active = 0
        self.bytes = 0
        self.claimed = 0
        self.exported = 0
        self.spooled = 0
        self.unspooled = 0
        self.extra = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self._unreported: collections.Counter[str] = collections.Counter()

    # -- the application's threads -----------------------------------------------------------

    def admit(self, item: Any, size: int, parts: tuple[Any, ...] = _NO_PARTS) -> str | None:
        """Queue a record (or, with its five other ``parts``, a capture); None, or the reason
        it was dropped. Never blocks for long."""
        with self.lock:
            self.received += 1
            if self.closed:
                reason: str | None = AFTER_SHUTDOWN
            elif self.queued + self.held >= self.max_records or self.bytes + size > self.max_bytes:
                reason = QUEUE_FULL
            else:
                if not self._queue:
                    self._since = time.monotonic()
                queue = self._queue
                queue.append(size)
                queue.append(item)
                queue.extend(parts)
                self.enqueued += 1
                self.queued += 1
                self.bytes += size
                wake = len(queue) >= self._wake_at
                reason = None
            if reason is not None:
                self.dropped[reason] += 1
        if reason is not None:
            return reason
        if wake and not self._wake.is_set():
            self._wake.set()
        return None

    @_locked
    def refuse(self, reason: str) -> None:
        """A record that could not be read at all: received and dropped."""
        self.received += 1
        self._drop(1, reason)

    # -- the drain thread --------------------------------------------------------------------

    @_locked
    def take(self) -> tuple[collections.deque[Any], float] | None:
        """The entries of everything queued (:data:`SLOTS` per record, still counted as
        queued until :meth:`encoded`), and when the oldest of it was queued; None when the
        queue is empty."""
        if not self._queue:
            return None
        taken, self._queue = self._queue, collections.deque()
        return taken, self._since

    def oldest(self) -> float | None:
        """When the oldest queued record was queued; None when the queue is empty."""
        return self._since if self._queue else None

    @_locked
    def lost(self, records: int, record_bytes: int, reason: str) -> None:
        """Queued records that could not be encoded at all."""
        self.queued -= records
        self.bytes -= record_bytes
        self._drop(records, reason)

    @_locked
    def encoded(
        self, records: int, record_bytes: int, events: int, event_bytes: int, exported: int
    ) -> None:
        """``records`` became ``events`` held in streams; ``exported`` of them were dropped
        by the exporter's encoder (and counted there)."""
        self.queued -= records
        self.held += events
        self.exported += exported
        self.extra += events + exported - records
        self.bytes += event_bytes - record_bytes

    # -- the scheduler, under the processor's own lock ---------------------------------------

    @_locked
    def started(self, count: int, extra_bytes: int) -> None:
        """Held events went into an operation (a request's body adds ``extra_bytes``)."""
        self.held -= count
        self.active += count
        self.bytes += extra_bytes

    @_locked
    def parked(self, count: int, extra_bytes: int) -> None:
        """Events of an operation that ended are held again, to be tried later."""
        self.active -= count
        self.held += count
        self.bytes -= extra_bytes

    @_locked
    def settled(
        self,
        count: int,
        memory: int,
        into: str,
        *,
        active: bool = True,
        from_disk: bool = False,
    ) -> None:
        """Events leave the processor: ``into`` is ``exported``, ``spooled``, ``returned``
        (a claimed segment put back on disk as it was) or a drop reason."""
        if active:
            self.active -= count
        else:
            self.held -= count
        self.bytes -= memory
        if from_disk:
            self.claimed -= count
            if into == "returned":
                return
            self.unspooled += count
        if into == "exported":
            self.exported += count
        elif into == "spooled":
            self.spooled += count
        else:
            self._drop(count, into)

    @_locked
    def claimed_from_disk(self, count: int, memory: int) -> None:
        """A segment's events, now this process's to deliver."""
        self.claimed += count
        self.held += count
        self.bytes += memory

    @_locked
    def corrupt(self, count: int) -> None:
        """Events of segments that could not be read."""
        self.unspooled += count
        self._drop(count, "spool_corrupt")

    # -- closing -----------------------------------------------------------------------------

    @_locked
    def close(self) -> None:
        """From now on, records are dropped as ``after_shutdown``."""
        self.closed = True

    @_locked
    def finalize(self, reason: str) -> int:
        """Count what is still queued (the drain thread's work when time ran out) as dropped;
        the number."""
        left = self.queued
        self.queued = 0
        self._queue.clear()
        if left:
            self._drop(left, reason)
        return left

    def _drop(self, count: int, reason: str) -> None:
        self.dropped[reason] += count
        self._unreported[reason] += count

    @_locked
    def unreported(self) -> collections.Counter[str]:
        """Drops since the last call, by reason (those at admission are the caller's to
        report)."""
        unreported, self._unreported = self._unreported, collections.Counter()
        return unreported

    @property
    def has_unreported(self) -> bool:
        return bool(self._unreported)

    # -- reading -----------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Records and events waiting (not in an operation): the queue size of the
        conventions."""
        return self.queued + self.held

    def under_pressure(self) -> bool:
        """More than half of either bound is held."""
        return self.waiting > self.max_records // 2 or self.bytes > self.max_bytes // 2

    @property
    def balanced(self) -> bool:
        """The ledger's identity (see the module's description)."""
        sources = self.received + self.unspooled + self.claimed + self.extra
        return sources == (
            self.queued
            + self.held
            + self.active
            + self.exported
            + self.spooled
            + sum(self.dropped.values())
        )
