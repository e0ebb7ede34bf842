"""The processor's decisions: what each stream does next, and when.

No threads, no locks, no I/O, no clock: time is passed in, randomness is an injected
``random.Random``. :mod:`.workers` calls it under one lock and carries out what it decides.

Events wait per **stream** (a CloudWatch log stream, or the one stream of another exporter).
A stream does one thing at a time (an **operation**: sending a request, or writing one to the
spool), so its order holds and its sequence token stays consistent; at most
``max_in_flight`` sends run at once, whatever the number of streams. A stream is **due**
when it has a request to try again, or its buffer fills a request, or its oldest event has
waited the schedule delay, or a flush or the shutdown waits for it; and its pace
(:mod:`.pacing`) and backoff allow. Due streams start in the order they became due. A stream
waiting for its pace or its backoff holds nothing but a timer.

One policy decides retries (``policy.delay``, exponential with full jitter): after a passing
failure (throttling, 5xx, the network) a request is tried again after the backoff, from the
front of its stream. With a spool:

- a request whose next try would come ``handover_s`` or more after its first (or that failed
  for a lasting cause the service did not call invalid) is written to the spool instead;
- a segment taken back from the spool goes back at its first failure (it is safe there, and
  its stream has its own events to write);
- while the spool holds segments of a stream, its later requests go there too, behind them:
  what is on disk goes first, so each stream's events arrive in the order they were logged;
- while more than half the memory bound is held, a full request of a stream that has to wait
  goes to disk;
- a write the spool refuses (full, unwritable) puts the request back in front, to be sent
  instead once the spool holds nothing older of its stream.

At shutdown every stream is due at once, and the configured pace gives way to the deadline
(the spacing throttling asks for still holds). Streams with nothing to do for ``idle_s`` are
forgotten, so memory follows the active streams, not every stream ever seen.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Union

from .pacing import Pace
from .streams import Agenda, Item, Request, Stream

__all__ = [
    "Action",
    "Claim",
    "Discard",
    "Item",
    "Kind",
    "Outcome",
    "Request",
    "Scheduler",
    "Send",
    "Settings",
    "Spool",
    "Stream",
    "Taken",
]


class Kind(enum.Enum):
    DONE = "done"
    """Every item is settled (delivered, or dropped by the exporter)."""
    AGAIN = "again"
    """The rest goes again as soon as the pace allows (a stream was just made, a sequence
    token was corrected, a request too long in time was cut), or after the outcome's
    ``after_s`` (the stream is to be made in a later slot of the creation pace)."""
    RETRY = "retry"
    """A passing failure: try again after the backoff."""
    FAILED = "failed"
    """A lasting failure: no retry will help soon."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt at a request did, as far as the scheduler needs to know."""

    kind: Kind
    remaining: list[Item] = field(default_factory=list)
    """The items still to deliver (none when done)."""
    throttled: bool = False
    maybe_sent: bool = False
    """The attempt may have reached the service: a later delivery may double it."""
    keep: bool = True
    """For a failure: the service did not call the request invalid, so a spool may keep it."""
    drop_reason: str = "undeliverable"
    error: Exception | None = None
    """The failure itself, for reporting it (the scheduler does not read it)."""
    after_s: float = 0.0
    """For ``AGAIN``: the wait before the next attempt, for a stream to be made in a later
    slot. A wait is not a try that asked to be sent again (it does not count towards
    ``max_again``), and the stream's pace does not hold the next attempt: it makes the stream
    (or waits again), not a PutLogEvents request; the one after it is paced."""


class Ledger(Protocol):
    """The transitions of :class:`~otel_cwlogs.intake.Intake` that the scheduler makes."""

    def started(self, count: int, extra_bytes: int) -> None: ...
    def parked(self, count: int, extra_bytes: int) -> None: ...
    def settled(
        self, count: int, memory: int, into: str, *, active: bool = ..., from_disk: bool = ...
    ) -> None: ...
    def claimed_from_disk(self, count: int, memory: int) -> None: ...


class Backoff(Protocol):
    def delay(self, attempt: int, rand: float) -> float: ...


@dataclass(frozen=True)
class Settings:
    delay_s: float
    """The schedule delay: how long a stream's oldest event may wait for more."""
    max_events: int
    max_bytes: int
    """Of one request (as PutLogEvents counts them)."""
    rate: float
    """Requests per second per stream; 0 for no limit."""
    max_in_flight: int
    policy: Backoff
    spool: bool = False
    disk_key: Callable[[Hashable], str] = str
    """The key a stream's segments have in the spool (see :func:`.spool.route_key`)."""
    handover_s: float = 2.0
    idle_s: float = 60.0
    claim_idle_s: float = 2.0
    """How long to wait for segments to appear after a look found none."""
    max_again: int = 3
    """Attempts in a row that ask to be sent again before it counts as a failure."""
    event_overhead: int = 0
    """Estimated memory of an event besides its size."""
    body_copies: float = 0.0
    """Estimated memory of a request's body while it is sent, per byte of its events."""


@dataclass(frozen=True)
class Taken:
    """A segment taken from the spool: now this process's to deliver."""

    segment: Any
    key: Hashable
    items: Sequence[Item]
    possible_duplicates: bool


@dataclass(frozen=True)
class Send:
    request: Request


@dataclass(frozen=True)
class Spool:
    request: Request


@dataclass(frozen=True)
class Claim:
    """Look at the spool: take its oldest segment, and see which streams have segments."""


@dataclass(frozen=True)
class Discard:
    """A claimed segment is settled: remove it from the spool (done, not an operation)."""

    segment: Any


Action = Union[Send, Spool, Claim, Discard]


@dataclass(eq=False)
class Flush:
    token: Hashable
    target: int
    """Records queued before the flush."""
    remaining: int = 0
    """Streams still to reach their count."""
    ok: bool = True


class Flushes:
    """What each flush waits for: the records queued before it, then, once the drain has
    taken those, each stream's count of events settled; and which flushes ended."""

    def __init__(self) -> None:
        self._waiting: list[Flush] = []
        """Flushes whose records are not all taken from the queue yet (oldest first)."""
        self._finished: list[tuple[Hashable, bool]] = []
        self._taken = 0

    def begin(self, token: Hashable, target: int, streams: Iterable[Stream]) -> list[Stream]:
        """A flush of the first ``target`` records queued; the streams it makes due."""
        flush = Flush(token, target)
        if target <= self._taken:
            return self._snapshot(flush, streams)
        self._waiting.append(flush)
        return []

    def taken(self, records: int, streams: Iterable[Stream]) -> list[Stream]:
        """``records`` more were taken from the queue; the streams made due."""
        self._taken += records
        due: list[Stream] = []
        while self._waiting and self._waiting[0].target <= self._taken:
            due += self._snapshot(self._waiting.pop(0), streams)
        return due

    def _snapshot(self, flush: Flush, streams: Iterable[Stream]) -> list[Stream]:
        due = []
        for stream in streams:
            if stream.done < stream.added:
                stream.waiters.append((flush, stream.added))
                stream.flush_mark = max(stream.flush_mark, stream.added)
                flush.remaining += 1
                due.append(stream)
        if not flush.remaining:
            self._finished.append((flush.token, flush.ok))
        return due

    def progress(self, stream: Stream, done: int, failed: int) -> None:
        """Events of a stream's own were settled, ``failed`` of them not delivered."""
        stream.done += done
        stream.failed += failed
        if not stream.waiters:
            return
        waiting = []
        for flush, target in stream.waiters:
            if failed:
                flush.ok = False
            if stream.done >= target:
                flush.remaining -= 1
                if not flush.remaining:
                    self._finished.append((flush.token, flush.ok))
            else:
                waiting.append((flush, target))
        stream.waiters = waiting

    def fail(self, token: Hashable) -> None:
        """A flush that ends at once, failed (one begun after the shutdown)."""
        self._finished.append((token, False))

    def end(self, streams: Iterable[Stream]) -> None:
        """The shutdown is over: every flush still waiting ends, failed."""
        pending: dict[int, Flush] = {id(flush): flush for flush in self._waiting}
        for stream in streams:
            for flush, _ in stream.waiters:
                pending[id(flush)] = flush
            stream.waiters = []
        self._waiting = []
        self._finished.extend((flush.token, False) for flush in pending.values())

    def finished(self) -> list[tuple[Hashable, bool]]:
        finished, self._finished = self._finished, []
        return finished


class SpoolLooks:
    """When to look at the spool: one look at a time and one segment held at a time; after
    a look that found nothing, again after ``claim_idle_s``; after a segment that could not
    be delivered, after the backoff; after one delivered, at once."""

    def __init__(self, settings: Settings, rng: random.Random, now: float) -> None:
        self._settings = settings
        self._random = rng
        self.busy = False
        self.holding: Request | None = None
        self.at = now
        self._failures = 0
        self.on_disk: frozenset[str] = frozenset()
        """The keys of the streams with segments there, as of the last look."""

    def due(self, now: float) -> bool:
        return self._settings.spool and not self.busy and self.holding is None and now >= self.at

    def looked(self, on_disk: frozenset[str], holding: Request | None, now: float) -> None:
        self.busy = False
        self.on_disk = on_disk
        self.holding = holding
        if holding is None:
            self.at = now + self._settings.claim_idle_s
        else:
            self._failures = 0

    def failed(self, now: float) -> None:
        """A look that could not read the directory."""
        self.busy = False
        self._failures += 1
        self.at = now + max(self._settings.claim_idle_s, self._backoff())

    def segment_ended(self, delivered: bool, now: float) -> None:
        """The segment held is settled: delivered, or back on disk."""
        self.holding = None
        if delivered:
            self._failures = 0
            self.at = now
        else:
            self._failures += 1
            self.at = now + self._backoff()

    def _backoff(self) -> float:
        return self._settings.policy.delay(self._failures, self._random.random())


class Scheduler:
    """Per-stream state and every decision about it (see the module's description)."""

    def __init__(
        self, settings: Settings, ledger: Ledger, now: float, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self._ledger = ledger
        self._random = rng or random.Random()
        self.streams: dict[Hashable, Stream] = {}
        self._agenda = Agenda()
        self._flushes = Flushes()
        self._looks = SpoolLooks(settings, self._random, now)
        self._spooling: dict[Stream, None] = {}
        self._full: dict[Stream, None] = {}
        """(Dicts as ordered sets: decisions do not depend on where objects live.)"""
        self.in_flight = 0
        self.closing = False
        self.final = False
        self._forgotten: list[Hashable] = []
        self._sweep_at = now + settings.idle_s

    # -- new work ----------------------------------------------------------------------------

    def add(
        self, key: Hashable, items: Sequence[Item], size: int, since: float, now: float
    ) -> None:
        """Append encoded items to a stream; ``since`` is when the oldest was queued."""
        stream = self._stream(key, now)
        if not stream.buffer:
            stream.first_at = since
        stream.buffer.extend(items)
        stream.buffer_bytes += size
        stream.added += len(items)
        stream.last_active = now
        if self._is_full(stream):
            self._full[stream] = None
        self._agenda.touch(stream)

    def taken(self, records: int) -> None:
        """``records`` more were taken from the queue (and added, or dropped by the encoder)."""
        self._agenda.touch_all(self._flushes.taken(records, self.streams.values()))

    def _stream(self, key: Hashable, now: float) -> Stream:
        stream = self.streams.get(key)
        if stream is None:
            settings = self.settings
            disk_key = settings.disk_key(key) if settings.spool else ""
            stream = Stream(key, Pace(settings.rate, now), disk_key, now)
            if disk_key and disk_key in self._looks.on_disk:  # an earlier process's go first
                self._set_spooling(stream, True)
            self.streams[key] = stream
        return stream

    def _is_full(self, stream: Stream) -> bool:
        return stream.is_full(self.settings.max_events, self.settings.max_bytes)

    def _cut(self, stream: Stream) -> Request:
        request = stream.take(self.settings.max_events, self.settings.max_bytes)
        if not self._is_full(stream):
            self._full.pop(stream, None)
        return request

    def _set_spooling(self, stream: Stream, on: bool) -> None:
        stream.spooling = on
        if on:
            self._spooling[stream] = None
        else:
            self._spooling.pop(stream, None)

    # -- flushes -----------------------------------------------------------------------------

    def begin_flush(self, token: Hashable, target: int) -> None:
        """Everything of the first ``target`` records queued is to be settled; the result
        comes out of :meth:`finished_flushes` under ``token``."""
        if self.final:
            self._flushes.fail(token)
        else:
            self._agenda.touch_all(self._flushes.begin(token, target, self.streams.values()))

    def finished_flushes(self) -> list[tuple[Hashable, bool]]:
        """(token, everything delivered?) of the flushes settled since the last call."""
        return self._flushes.finished()

    # -- deciding ----------------------------------------------------------------------------

    def poll(self, now: float, pressure: bool = False) -> list[Action]:
        """What to start now. ``pressure``: more than half the memory bound is held."""
        if self.final:
            return []
        self._agenda.review(now, self._due_at)
        actions: list[Action] = []
        if pressure and self.settings.spool and not self.closing:
            for stream in list(self._full):
                if not stream.busy and not stream.ready and not stream.spooling:
                    request = stream.head or self._cut(stream)  # in order: what is in front
                    stream.head = None
                    request.to_disk = True
                    self._set_spooling(stream, True)
                    actions.append(self._begin(stream, request, now))
        if self._may_look(now) and self.in_flight < self.settings.max_in_flight:
            # first: at most one slot, and under a steady load the streams would leave none
            self._looks.busy = True
            self.in_flight += 1
            actions.append(Claim())
        while self.in_flight < self.settings.max_in_flight:
            ready = self._agenda.next_ready()
            if ready is None:
                break
            actions.append(self._start(ready, now))
        if now >= self._sweep_at:
            self._sweep(now)
        return actions

    def _due_at(self, stream: Stream, now: float) -> float | None:
        """When the stream's next operation may start; None when it has nothing to start."""
        if stream.busy:
            return None
        request = stream.waiting
        if request is None:
            if not stream.buffer:
                return None
            at = stream.first_at + self.settings.delay_s
            if self.closing or stream.cut < stream.flush_mark or self._is_full(stream):
                at = now
        else:
            at = now
        at = max(at, stream.retry_at)
        pace = stream.pace
        # at shutdown the deadline comes first: only the spacing throttling asks for holds
        paced = pace.slowed or not self.closing
        if pace.interval and paced and not self._goes_to_disk(stream, request):
            at = max(at, pace.next_at)
        return at

    def _goes_to_disk(self, stream: Stream, request: Request | None) -> bool:
        if request is not None and (request.to_disk or request.from_disk):
            return request.to_disk
        return stream.spooling and self.settings.spool

    def _start(self, stream: Stream, now: float) -> Action:
        if stream.claimed is not None:
            request, stream.claimed = stream.claimed, None
        elif stream.head is not None:
            request, stream.head = stream.head, None
        else:
            request = self._cut(stream)
        if self._goes_to_disk(stream, request):
            request.to_disk = True
        return self._begin(stream, request, now)

    def _begin(self, stream: Stream, request: Request, now: float) -> Action:
        stream.busy = True
        stream.current = request
        stream.last_active = now
        self.in_flight += 1
        if request.to_disk:
            self._ledger.started(len(request.items), 0)
            return Spool(request)
        if stream.pace.interval:
            stream.pace.take(now)
        if request.started is None:
            request.started = now
        self._ledger.started(len(request.items), self._body(request))
        return Send(request)

    def _memory(self, count: int, size: int) -> int:
        return size + self.settings.event_overhead * count

    def _body(self, request: Request) -> int:
        return int(self.settings.body_copies * request.size)

    # -- results -----------------------------------------------------------------------------

    def _end(self, request: Request, now: float) -> Stream:
        stream = request.stream
        stream.busy = False
        stream.current = None
        stream.last_active = now
        self.in_flight -= 1
        self._agenda.touch(stream)
        return stream

    def sent(self, request: Request, outcome: Outcome, now: float) -> list[Action]:
        """A send ended; the follow-ups to do at once (removing a delivered segment)."""
        stream = self._end(request, now)
        body = self._body(request)
        remaining = outcome.remaining
        kept = sum(size for _, size in remaining)
        settled = len(request.items) - len(remaining)
        if settled:
            self._settle(request, settled, request.size - kept, "exported", body=body)
            body = 0
        request.items, request.size = remaining, kept
        kind = outcome.kind if remaining else Kind.DONE  # nothing left to try
        if kind is Kind.AGAIN and not outcome.after_s:
            request.tries_again += 1
            if request.tries_again > self.settings.max_again:
                kind = Kind.RETRY
        if kind is not Kind.AGAIN:
            request.tries_again = 0
        if kind is Kind.DONE:
            stream.failures = 0
            stream.pace.accepted()
            return self._segment_settled(request, now, delivered=True)
        request.maybe_sent += outcome.maybe_sent
        self._ledger.parked(len(request.items), body)
        if kind is Kind.AGAIN:
            stream.pace.accepted()
            if outcome.after_s:  # what comes back makes the stream: no request of the pace's
                stream.retry_at = stream.pace.next_at = now + outcome.after_s
            self._put_back(stream, request)
            return []
        if outcome.throttled:
            stream.pace.throttled()
        stream.failures += 1
        request.failures += 1
        retry_at = now + self.settings.policy.delay(stream.failures, self._random.random())
        started = now if request.started is None else request.started
        spool = self.settings.spool and (
            (kind is Kind.FAILED and outcome.keep)
            or (
                kind is Kind.RETRY
                and (request.from_disk or retry_at >= started + self.settings.handover_s)
            )
        )
        if spool:
            request.to_disk = True
            self._set_spooling(stream, True)
        elif kind is Kind.FAILED:
            self._drop_held(request, outcome.drop_reason)
            return self._segment_settled(request, now, delivered=False)
        else:
            stream.retry_at = retry_at
        self._put_back(stream, request)
        return []

    def _put_back(self, stream: Stream, request: Request) -> None:
        if request.from_disk:
            stream.claimed = request
        else:
            stream.head = request

    def _settle(self, request: Request, count: int, size: int, into: str, body: int = 0) -> None:
        """Settle ``count`` items of an operation in progress."""
        self._ledger.settled(
            count, self._memory(count, size) + body, into, from_disk=request.from_disk
        )
        if not request.from_disk:
            failed = 0 if into == "exported" else count
            self._flushes.progress(request.stream, count, failed)

    def _drop_held(self, request: Request, reason: str) -> None:
        """Drop a request's items that are held (not in an operation)."""
        count = len(request.items)
        if count:
            memory = self._memory(count, request.size)
            self._ledger.settled(count, memory, reason, active=False, from_disk=request.from_disk)
            if not request.from_disk:
                self._flushes.progress(request.stream, count, count)
        request.items, request.size = [], 0

    def _segment_settled(self, request: Request, now: float, delivered: bool) -> list[Action]:
        """A request ended for good; a claimed segment it came from is removed."""
        if request.segment is None:
            return []
        self._looks.segment_ended(delivered, now)
        return [Discard(request.segment)]

    def spooled(self, request: Request, refusal: str | None, now: float) -> None:
        """A spool operation ended: written (or its segment put back), or refused."""
        stream = self._end(request, now)
        count, memory = len(request.items), self._memory(len(request.items), request.size)
        if refusal is None:
            into = "returned" if request.returns_segment() else "spooled"
            self._settle_whole(request, count, memory, into)
            stream.spooled_at = now
            self._set_spooling(stream, True)
            if request.segment is not None:
                self._looks.segment_ended(False, now)
            return
        self._ledger.parked(count, 0)
        request.to_disk = False  # sent instead, unless the spool holds older events of its stream
        stream.failures += 1
        stream.retry_at = now + self.settings.policy.delay(stream.failures, self._random.random())
        self._put_back(stream, request)

    def _settle_whole(self, request: Request, count: int, memory: int, into: str) -> None:
        self._ledger.settled(count, memory, into, from_disk=request.from_disk)
        if not request.from_disk:
            self._flushes.progress(request.stream, count, count)

    # -- the spool ---------------------------------------------------------------------------

    def _may_look(self, now: float) -> bool:
        return not self.closing and self._looks.due(now)

    def claimed(
        self, taken: Taken | None, on_disk: frozenset[str], *, looked_at: float, now: float
    ) -> None:
        """A look at the spool that began at ``looked_at`` ended: ``taken`` (None if there
        was no segment to take) is now this process's, and the streams of ``on_disk`` have
        other segments there."""
        self.in_flight -= 1
        if taken is None:
            self._end_spooling(on_disk, looked_at)
            self._looks.looked(on_disk, None, now)
            return
        stream = self._stream(taken.key, now)
        self._end_spooling(on_disk, looked_at)  # the segment taken goes before its stream's
        items = list(taken.items)
        size = sum(size for _, size in items)
        request = Request(stream, items, size, taken.segment, taken.possible_duplicates)
        self._ledger.claimed_from_disk(len(items), self._memory(len(items), size))
        self._looks.looked(on_disk, request, now)
        stream.claimed = request
        stream.last_active = now
        self._agenda.touch(stream)

    def _end_spooling(self, on_disk: frozenset[str], looked_at: float) -> None:
        """Streams with nothing older on disk than what they hold go by memory again."""
        for stream in list(self._spooling):
            writing = stream.current is not None and stream.current.to_disk
            if not writing and stream.spooled_at < looked_at and stream.disk_key not in on_disk:
                self._set_spooling(stream, False)
                self._agenda.touch(stream)

    def claim_failed(self, now: float) -> None:
        """A look at the spool failed (it could not be read), or came too late to count."""
        self.in_flight -= 1
        self._looks.failed(now)

    # -- time --------------------------------------------------------------------------------

    def next_wakeup(self, now: float) -> float:
        """When :meth:`poll` may next have something to start (at the latest)."""
        at = self._sweep_at
        agenda = self._agenda.next_at(now)
        if agenda is not None:
            at = min(at, agenda)
        if not self.closing and self._looks.due(self._looks.at):
            at = min(at, self._looks.at)
        return at

    def _sweep(self, now: float) -> None:
        """Forget the streams that have had nothing to do for ``idle_s``."""
        self._sweep_at = now + self.settings.idle_s / 4
        horizon = now - self.settings.idle_s
        for key, stream in list(self.streams.items()):
            if stream.last_active <= horizon and stream.idle:
                stream.forgotten = True
                del self.streams[key]
                self._forgotten.append(key)

    def forgotten(self) -> list[Hashable]:
        """The keys of the streams forgotten since the last call."""
        forgotten, self._forgotten = self._forgotten, []
        return forgotten

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Shutdown: every stream is due now, no claims. Backoff still applies, and the pace
        only where throttling slowed it: the configured rate gives way to the deadline."""
        self.closing = True
        self._agenda.touch_all(list(self.streams.values()))

    @property
    def settled(self) -> bool:
        """Nothing is held or in progress (every stream with work is due, waiting for a
        timer, busy, or to be looked at)."""
        if self.in_flight:
            return False
        return self._agenda.empty(lambda stream: self._due_at(stream, 0.0) is not None)

    def spooling_now(self) -> bool:
        """Whether a write to the spool is in progress."""
        return any(
            stream.current is not None and stream.current.to_disk
            for stream in self.streams.values()
        )

    def abandon_spooling(self) -> list[Request]:
        """The writes to the spool still in progress, given up (the caller settles them)."""
        abandoned = []
        for stream in self.streams.values():
            if stream.current is not None and stream.current.to_disk:
                stream.current.abandoned = True
                abandoned.append(stream.current)
        return abandoned

    def finish(self) -> list[tuple[Request, bool]]:
        """Shutdown's time is up: stop deciding. Every request left, and whether it is being
        sent (abandoned: what its attempt does is not counted); the caller settles each with
        :meth:`settle_leftover`. Writes to the spool in progress are left to end (see
        :meth:`abandon_spooling`). Flushes still waiting end as failed."""
        self.final = True
        left: list[tuple[Request, bool]] = []
        for stream in self.streams.values():
            current = stream.current
            if current is not None and not current.to_disk:  # a write ends by itself
                current.abandoned = True
                left.append((current, True))
            for request in (stream.claimed, stream.head):
                if request is not None:
                    left.append((request, False))
            stream.claimed = stream.head = None
            while stream.buffer:
                left.append((self._cut(stream), False))
        self._flushes.end(self.streams.values())
        return left

    def settle_leftover(self, request: Request, active: bool, into: str) -> None:
        """Settle a request :meth:`finish` returned: ``spooled``, ``returned`` (its segment
        put back) or a drop reason."""
        count = len(request.items)
        if not count:
            return
        memory = self._memory(count, request.size)
        if active and not request.to_disk:
            memory += self._body(request)
        self._ledger.settled(count, memory, into, active=active, from_disk=request.from_disk)
