"""The scheduler's state: streams, their requests, and the agenda of what is due when.

Pure data structures (no threads, no locks, no I/O, no clock): :mod:`.scheduler` decides,
these keep what it decided about.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Callable

from .pacing import Pace

if TYPE_CHECKING:
    from .scheduler import Flush

Item = tuple[Any, int]
"""A payload (an event, or a record for another exporter) and its size."""


class Request:
    """One request's worth of a stream's items."""

    __slots__ = (
        "abandoned",
        "failures",
        "flagged",
        "from_disk",
        "items",
        "maybe_sent",
        "original",
        "segment",
        "size",
        "started",
        "stream",
        "to_disk",
        "tries_again",
    )

    def __init__(
        self,
        stream: Stream,
        items: list[Item],
        size: int,
        segment: Any = None,
        flagged: bool = False,
    ) -> None:
        self.stream = stream
        self.items = items
        self.size = size
        self.segment = segment
        """The spool segment these items were taken from, while this process holds it."""
        self.from_disk = segment is not None
        self.original = len(items)
        self.flagged = flagged
        """Taken from a segment marked as possibly delivered already."""
        self.maybe_sent = 0
        """Attempts of this process that failed but may have reached the service."""
        self.started: float | None = None
        """When its first attempt started."""
        self.failures = 0
        self.tries_again = 0
        self.to_disk = False
        """Its next operation writes it to the spool (or puts its segment back)."""
        self.abandoned = False
        """Settled by the shutdown while its operation ran: what that operation did is not
        to be counted again."""

    @property
    def copies(self) -> int:
        """How many copies of its events CloudWatch may hold already: once delivered, each
        is a possible duplicate."""
        return self.maybe_sent + self.flagged

    def returns_segment(self) -> bool:
        """Whether writing it to the spool is putting its segment back as it was (nothing of
        it delivered, no attempt that may have reached the service); else its items are
        written anew and the segment removed."""
        return self.segment is not None and not self.maybe_sent and len(self.items) == self.original


class Stream:
    """Buffered work for one destination, and what the scheduler knows of it."""

    __slots__ = (
        "added",
        "buffer",
        "buffer_bytes",
        "busy",
        "claimed",
        "current",
        "cut",
        "disk_key",
        "done",
        "failed",
        "failures",
        "first_at",
        "flush_mark",
        "forgotten",
        "head",
        "key",
        "last_active",
        "pace",
        "ready",
        "retry_at",
        "spooled_at",
        "spooling",
        "timer_at",
        "waiters",
    )

    def __init__(self, key: Hashable, pace: Pace, disk_key: str, now: float) -> None:
        self.key = key
        self.pace = pace
        self.disk_key = disk_key
        self.buffer: deque[Item] = deque()
        self.buffer_bytes = 0
        self.first_at = now
        """When the oldest event of the buffer was queued."""
        self.head: Request | None = None
        """A request put back, to go before the buffer."""
        self.claimed: Request | None = None
        """A segment taken from the spool, to go before everything else."""
        self.current: Request | None = None
        """The request of the operation in progress."""
        self.busy = False
        self.ready = False
        self.timer_at: float | None = None
        self.forgotten = False
        self.retry_at = float("-inf")
        self.failures = 0
        """Attempts in a row that failed."""
        self.spooling = False
        self.spooled_at = float("-inf")
        """When its last write to the spool ended."""
        self.added = 0
        """Events added to the buffer, ever."""
        self.cut = 0
        """Events taken from the buffer into requests, ever."""
        self.done = 0
        """Events of its own settled, ever (delivered, dropped or spooled)."""
        self.failed = 0
        """Of those, the ones not delivered."""
        self.flush_mark = 0
        """Events of the buffer a flush waits for (the stream is due until they are cut)."""
        self.waiters: list[tuple[Flush, int]] = []
        """The flushes waiting for it, each with the count of ``done`` it waits for."""
        self.last_active = now

    @property
    def waiting(self) -> Request | None:
        """The request it has to start before its buffer, if any."""
        return self.claimed or self.head

    @property
    def idle(self) -> bool:
        """Nothing held, nothing to do, nobody waiting for it."""
        return not (
            self.busy
            or self.ready
            or self.buffer
            or self.head
            or self.claimed
            or self.spooling
            or self.waiters
        )

    def is_full(self, max_events: int, max_bytes: int) -> bool:
        """Whether its buffer holds a whole request."""
        return len(self.buffer) >= max_events or self.buffer_bytes >= max_bytes

    def take(self, max_events: int, max_bytes: int) -> Request:
        """The next request, cut from the front of its buffer."""
        items: list[Item] = []
        size = 0
        buffer = self.buffer
        while buffer and len(items) < max_events:
            item = buffer[0]
            if items and size + item[1] > max_bytes:
                break
            items.append(buffer.popleft())
            size += item[1]
        self.buffer_bytes -= size
        self.cut += len(items)
        return Request(self, items, size)


class Agenda:
    """The streams that have something to start: those due now, in the order they became
    due, and a heap of timers for those that wait (their pace, their backoff, their delay).
    A stream whose state changed is looked at again at the next :meth:`review`."""

    def __init__(self) -> None:
        self._ready: deque[Stream] = deque()
        self._timers: list[tuple[float, int, Stream]] = []
        self._touched: list[Stream] = []
        self._order = itertools.count()

    def touch(self, stream: Stream) -> None:
        self._touched.append(stream)

    def review(self, now: float, due_at: Callable[[Stream, float], float | None]) -> None:
        """Put each stream touched, or whose timer is up, where ``due_at`` says it belongs."""
        while self._timers and self._timers[0][0] <= now:
            timer, _, stream = heapq.heappop(self._timers)
            if stream.timer_at == timer:
                stream.timer_at = None
                self._touched.append(stream)
        touched, self._touched = self._touched, []
        for stream in touched:
            if stream.ready or stream.forgotten:
                continue
            at = due_at(stream, now)
            if at is None:
                continue
            if at <= now:
                stream.ready = True
                self._ready.append(stream)
            elif stream.timer_at is None or at < stream.timer_at:
                stream.timer_at = at
                heapq.heappush(self._timers, (at, next(self._order), stream))

    def next_ready(self) -> Stream | None:
        """The stream due the longest, taken off the agenda; None when none is due."""
        while self._ready:
            stream = self._ready.popleft()
            stream.ready = False
            if not stream.forgotten and not stream.busy:
                return stream
        return None

    @property
    def has_ready(self) -> bool:
        return bool(self._ready)

    def next_at(self, now: float) -> float | None:
        """When something may next be due: now if a stream was touched, else the earliest
        timer; None when there is nothing on the agenda."""
        if self._touched:
            return now
        self._drop_stale_timers()
        return self._timers[0][0] if self._timers else None

    def empty(self, has_work: Callable[[Stream], bool]) -> bool:
        """Nothing due, no timer, and no touched stream with work."""
        self._drop_stale_timers()
        if self._ready or self._timers:
            return False
        return not any(has_work(stream) for stream in self._touched)

    def touch_all(self, streams: list[Stream]) -> None:
        self._touched.extend(streams)

    def _drop_stale_timers(self) -> None:
        while self._timers and self._timers[0][2].timer_at != self._timers[0][0]:
            heapq.heappop(self._timers)
