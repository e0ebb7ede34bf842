"""The processor's threads: they carry out what the scheduler decides.

Every thread of a processor is started here, and nothing here decides anything:

- the **drain** thread takes the queued records from the intake, encodes them (without any
  lock held), adds them to the scheduler's streams, and starts what the scheduler says;
- **senders** (at most ``max_concurrent_requests``, started as operations need them) run one
  operation each: a request sent, a request written to the spool, or a look at the spool.
  Each reports its result to the scheduler and starts what follows;
- the **stop** thread runs a shutdown that SIGTERM asked for (see :mod:`.sigterm`), so that
  a lock held by the interrupted code holds it up no longer than its timeout.

One lock guards the scheduler; the intake's own lock is taken inside it, never around it.
Whatever an operation did is counted under that lock, and only if the shutdown has not
already counted its records (see :meth:`Workers.close`): every record is counted once.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from ._diag import RateLimitedLog
from ._guard import guarded
from .delivery import Delivery, Encoded
from .events import SIZE
from .intake import DROP_REASONS, SLOTS, Intake, records_and_bytes
from .scheduler import (
    Action,
    Claim,
    Discard,
    Kind,
    Outcome,
    Request,
    Scheduler,
    Send,
    Spool,
    Taken,
)
from .spool import Spool as SpoolDirectory

DRAIN_CHUNK = 2048
"""Records encoded between two rounds of decisions."""
REPORT_AFTER_S = 10.0
"""A request failing for a passing cause this long is reported (rate-limited)."""
UNDELIVERED = "undelivered_at_shutdown"
IN_FLIGHT = "in_flight_at_shutdown"


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class Workers:
    """The threads of one processor (see the module's description)."""

    def __init__(
        self,
        *,
        intake: Intake,
        scheduler: Scheduler,
        delivery: Delivery,
        spool: SpoolDirectory | None,
        wake: threading.Event,
        delay_s: float,
        max_senders: int,
        event_overhead: int,
        on_processed: Callable[[int], None] | None = None,
        on_dropped: Callable[[int, str], None] | None = None,
        report: RateLimitedLog | None = None,
    ) -> None:
        self._intake = intake
        self._scheduler = scheduler
        self._delivery = delivery
        self._spool = spool
        self._wake = wake
        self._delay = delay_s
        self._max_senders = max_senders
        self._event_overhead = event_overhead
        self._on_processed = on_processed
        self._on_dropped = on_dropped
        self._report = report or RateLimitedLog()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        """Notified whenever an operation ends or records are added: what a closing waits on."""
        self._jobs: queue.SimpleQueue[Action | None] = queue.SimpleQueue()
        self._senders: list[threading.Thread] = []
        self._chunks: collections.deque[list[Any]] = collections.deque()
        """Records the drain thread took and has not encoded yet, as the queue's entries."""
        self._since = 0.0
        self._encoding = False
        self._drain_wakes_at = 0.0
        """When the drain thread's sleep ends (it looks at the timers then)."""
        self._waiters: dict[Hashable, _Waiter] = {}
        self._tokens = itertools.count()
        self._close_lock = threading.Lock()
        self.closed = False
        self._stopping = threading.Event()

    def start(self) -> None:
        """The drain thread and one sender (Python 3.12+ starts no thread at interpreter
        shutdown, when the at-exit flush needs one)."""
        drainer = threading.Thread(target=self._drain_loop, daemon=True)
        drainer.name = "OtelCloudWatchLogsDrain"
        with self._lock:
            self._add_sender()
            drainer.start()

    # -- the application's side --------------------------------------------------------------

    def flush(self, timeout_s: float) -> bool:
        """Wait until every record queued before the call is settled; True if all of them
        were delivered within ``timeout_s``."""
        waiter = _Waiter()
        token = next(self._tokens)
        with self._lock:
            self._waiters[token] = waiter
            self._scheduler.begin_flush(token, self._intake.enqueued)
            self._settle_flushes()
        self._wake.set()
        finished = waiter.done.wait(max(timeout_s, 0.0))
        with self._lock:
            self._waiters.pop(token, None)
        return finished and waiter.ok

    def stop_within(self, close: Callable[[], Any], timeout_s: float) -> None:
        """Run ``close`` on a thread of its own, and wait for it at most ``timeout_s``."""
        worker = threading.Thread(target=close, daemon=True)
        worker.name = "OtelCloudWatchLogsStop"
        worker.start()
        worker.join(timeout_s)

    # -- closing -----------------------------------------------------------------------------

    def close(self, timeout_s: float, reserve_s: float) -> bool:
        """Deliver what is held for at most ``timeout_s - reserve_s``, then spool (with a
        spool) or count as dropped whatever is left, within ``timeout_s`` in all; stop the
        threads. Only the first call closes (True); another one waits for it, within its own
        timeout."""
        deadline = time.monotonic() + timeout_s
        if not self._close_lock.acquire(timeout=max(timeout_s, 0.0)):
            return False
        try:
            if self.closed:
                return False
            self.closed = True
            self._intake.close()
            with self._lock:
                self._scheduler.close()
                self._changed.notify_all()
            self._wake.set()
            try:
                self._deliver_until(deadline - reserve_s)
                self._take_over(deadline)
            except Exception:  # never into the application: what is left stays counted
                self._report.log("close", logging.ERROR, "processor error", exc_info=True)
            return True
        finally:
            self._stop_threads()
            self._close_lock.release()

    def _deliver_until(self, until: float) -> None:
        with self._changed:
            while not self._idle():
                left = until - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(min(left, self._delay))

    def _idle(self) -> bool:
        return not self._intake.queued and self._scheduler.settled

    def _take_over(self, deadline: float) -> None:
        """Shutdown's time is up: settle everything still here."""
        with self._lock:
            chunks = list(self._chunks)
            self._chunks.clear()
            since = self._since
            taken = self._intake.take()
        if taken is not None:
            records, since = taken
            chunks.extend(_chunks(list(records)))
        if self._spool is not None:  # encoded, so that they can be written to the spool
            for entries in chunks:
                if time.monotonic() >= deadline:
                    break
                encoded = self._encoded(entries)
                with self._lock:
                    self._add(entries, encoded, since)
            with self._changed:
                while self._encoding and time.monotonic() < deadline:
                    self._changed.wait(deadline - time.monotonic())
        with self._lock:
            left = self._scheduler.finish()
            self._settle_flushes()
        for request, active in left:
            into = self._last_resort(request, active, deadline)
            with self._lock:
                self._scheduler.settle_leftover(request, active, into)
        with self._changed:  # writes to the spool in progress end by themselves
            while self._scheduler.spooling_now() and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            for request in self._scheduler.abandon_spooling():
                self._scheduler.settle_leftover(request, True, UNDELIVERED)
        self._intake.finalize(UNDELIVERED)
        self._report_drops(say=False)  # the shutdown's summary line states them

    def _last_resort(self, request: Request, active: bool, deadline: float) -> str:
        """Where a request left at shutdown goes: the spool, or a drop reason."""
        if self._spool is not None and time.monotonic() < deadline:
            request.maybe_sent += active  # the attempt under way may reach it
            refusal = self._write_or_refuse(request)
            if refusal is None:
                return "returned" if request.returns_segment() else "spooled"
            return refusal
        return IN_FLIGHT if active else UNDELIVERED

    def _stop_threads(self) -> None:
        self._stopping.set()
        self._wake.set()
        for _ in self._senders:
            self._jobs.put(None)

    # -- the drain thread --------------------------------------------------------------------

    @guarded
    def _drain_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._timeout())
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._drain()
            except Exception:
                self._report.log("drain", logging.ERROR, "processor error", exc_info=True)

    def _timeout(self) -> float:
        """How long the drain thread may sleep: until the scheduler's next timer, or until
        the oldest queued record has waited the delay (a record queued while it sleeps does
        not wake it, so it never sleeps longer than the delay)."""
        now = time.monotonic()
        with self._lock:
            at = min(self._scheduler.next_wakeup(now), now + self._delay)
            oldest = self._intake.oldest()
            if oldest is not None:
                at = min(at, oldest + self._delay)
            if self._scheduler.closing and oldest is not None:
                at = now
            self._drain_wakes_at = at
        return max(at - now, 0.001)

    def _drain(self) -> None:
        taken = self._intake.take()
        if taken is not None:
            records, since = taken
            with self._lock:
                self._chunks.extend(_chunks(list(records)))
                self._since = since
            while True:
                with self._lock:
                    if self._final() or not self._chunks:
                        break
                    entries = self._chunks.popleft()
                    since = self._since
                    self._encoding = True
                encoded = self._encoded(entries)
                with self._lock:
                    self._encoding = False
                    if self._final():
                        self._changed.notify_all()
                        return  # the shutdown counts them
                    self._add(entries, encoded, since)
                    actions = self._poll()
                self._submit(actions)
                if encoded is not None:
                    self._delivery.report_encoded(encoded)
                self._report_drops()
        self._decide()

    def _final(self) -> bool:
        """(lock held) Whether the shutdown has settled everything (read anew each time)."""
        return self._scheduler.final

    def _encoded(self, entries: list[Any]) -> Encoded | None:
        """The records of some of the queue's entries encoded into items per stream (no lock
        held); None if that failed."""
        try:
            return self._delivery.encode(entries)
        except Exception:
            self._report.log("encode", logging.ERROR, "processor error", exc_info=True)
            return None

    def _add(self, entries: list[Any], encoded: Encoded | None, since: float) -> None:
        """(lock held) The records of these queue entries are now ``encoded``, in their
        streams."""
        records, record_bytes = records_and_bytes(entries)
        if encoded is None:
            self._intake.lost(records, record_bytes, "invalid_record")
        else:
            self._delivery.count_encoded(records, encoded)
            memory = encoded.event_bytes + self._event_overhead * encoded.events
            self._intake.encoded(records, record_bytes, encoded.events, memory, encoded.dropped)
            now = time.monotonic()
            for key, (items, size) in encoded.groups.items():
                self._scheduler.add(key, items, size, since, now)
            if self._on_processed is not None:
                self._on_processed(records)
        self._scheduler.taken(records)
        self._changed.notify_all()

    def _decide(self) -> None:
        with self._lock:
            actions = self._poll()
        self._submit(actions)
        self._report_drops()

    def _report_drops(self, say: bool = True) -> None:
        """Say (rate-limited, with the numbers) what was dropped since the last time."""
        if not self._intake.has_unreported:
            return
        for reason, count in self._intake.unreported().items():
            if self._on_dropped is not None:
                self._on_dropped(count, reason)
            if not say:
                continue
            self._report.tally(
                f"dropped:{reason}",
                count,
                logging.WARNING,
                "%d log record(s) dropped: %s (%s)",
                reason,
                DROP_REASONS.get(reason, reason),
            )

    def _poll(self) -> list[Action]:
        """(lock held) What the scheduler starts now; senders for it; settled flushes."""
        now = time.monotonic()
        actions = self._scheduler.poll(now, self._intake.under_pressure())
        if self._scheduler.next_wakeup(now) < self._drain_wakes_at:
            self._wake.set()  # a timer earlier than the drain thread's sleep
        while len(self._senders) < min(self._scheduler.in_flight, self._max_senders):
            if not self._add_sender():
                break
        self._settle_flushes()
        for key in self._scheduler.forgotten():
            self._delivery.forget(key)
        self._changed.notify_all()
        return actions

    def _add_sender(self) -> bool:
        """(lock held) One more sender; False at interpreter shutdown (no thread starts then:
        the senders there are share the work)."""
        sender = threading.Thread(target=self._send_loop, daemon=True)
        sender.name = f"OtelCloudWatchLogsSend-{len(self._senders)}"
        try:
            sender.start()
        except RuntimeError:
            return False
        self._senders.append(sender)
        return True

    def _settle_flushes(self) -> None:
        for token, ok in self._scheduler.finished_flushes():
            waiter = self._waiters.get(token)
            if waiter is not None:
                waiter.ok = ok
                waiter.done.set()

    def _submit(self, actions: Sequence[Action]) -> None:
        for action in actions:
            self._jobs.put(action)

    # -- the senders -------------------------------------------------------------------------

    @guarded
    def _send_loop(self) -> None:
        while True:
            action = self._jobs.get()
            if action is None:
                return
            try:
                self._run(action)
            except Exception:
                self._report.log("send", logging.ERROR, "processor error", exc_info=True)

    def _run(self, action: Action) -> None:
        if isinstance(action, Send):
            self._send(action.request)
        elif isinstance(action, Spool):
            self._spooled(action.request, self._write_or_refuse(action.request))
        elif isinstance(action, Claim):
            self._claim()
        else:
            self._discard(action)

    def _send(self, request: Request) -> None:
        if _abandoned(request):
            return
        try:
            outcome, tally = self._delivery.attempt(
                request.stream.key, request.items, request.copies
            )
        except Exception:
            self._report.log("send", logging.ERROR, "processor error", exc_info=True)
            outcome, tally = Outcome(Kind.FAILED, list(request.items), keep=True), None
        count = len(request.items)
        with self._lock:
            if _abandoned(request):
                return  # the shutdown counted it already
            self._delivery.count(tally)
            follow = self._scheduler.sent(request, outcome, time.monotonic())
            actions = self._poll()
        self._submit(actions)
        for action in follow:
            self._run(action)
        self._report_failure(request, outcome, count)
        self._report_drops()

    def _report_failure(self, request: Request, outcome: Outcome, count: int) -> None:
        if outcome.error is None:
            return
        started = request.started if request.started is not None else time.monotonic()
        if outcome.kind is Kind.RETRY:
            if request.to_disk:
                hint = "still failing: written to the spool, to be delivered later"
            elif time.monotonic() - started >= REPORT_AFTER_S:
                hint = "still failing: kept in memory and tried again"
            else:
                return
        elif request.to_disk:
            hint = "written to the spool, to be delivered later"
        else:
            hint = "dropped"
        self._delivery.report_failure(request.stream.key, outcome.error, count, hint)

    def _write_or_refuse(self, request: Request) -> str | None:
        """:meth:`_write`, where anything it raises counts as the spool refusing."""
        try:
            return self._write(request)
        except Exception:
            self._report.log("spool", logging.ERROR, "processor error", exc_info=True)
            return "spool_unwritable"

    def _write(self, request: Request) -> str | None:
        """Write a request to the spool, or put back the segment it came from: None, or
        why the spool refused it."""
        spool = self._spool
        assert spool is not None
        events = [event for event, _ in request.items]
        if not events:
            return None
        segment = request.segment
        if segment is not None and request.returns_segment():
            spool.release(segment)
            return None
        refusal = spool.write(request.stream.key, events, request.copies > 0)  # type: ignore[arg-type]
        if refusal is None and segment is not None:
            spool.done(segment)
        if refusal is not None:
            self._report.log(
                f"refused:{refusal}",
                logging.WARNING,
                "the spool refused %d events (%s): %s",
                len(events),
                refusal,
                spool.describe(refusal),
            )
        return refusal

    def _spooled(self, request: Request, refusal: str | None) -> None:
        with self._lock:
            if _abandoned(request):
                return
            self._scheduler.spooled(request, refusal, time.monotonic())
            actions = self._poll()
        self._submit(actions)
        self._report_drops()

    def _claim(self) -> None:
        spool = self._spool
        assert spool is not None
        looked_at = time.monotonic()
        try:
            found = spool.claim()
        except OSError as error:
            self._report.log("spool-read", logging.ERROR, "could not read the spool: %s", error)
            with self._lock:
                self._scheduler.claim_failed(time.monotonic())
                actions = self._poll()
            self._submit(actions)
            return
        segment = found.segment
        with self._lock:
            if found.bad:
                self._intake.corrupt(found.bad)
            final = self._final()
            if not final:
                taken = None
                if segment is not None:
                    items = [(event, event[SIZE]) for event in segment.events]
                    taken = Taken(segment, segment.route, items, segment.possible_duplicates)
                self._scheduler.claimed(
                    taken, found.on_disk, looked_at=looked_at, now=time.monotonic()
                )
            else:
                self._scheduler.claim_failed(time.monotonic())
            actions = self._poll()
        if final and segment is not None:
            spool.release(segment)
        self._submit(actions)
        self._report_drops()

    def _discard(self, action: Discard) -> None:
        assert self._spool is not None
        self._spool.done(action.segment)


def _abandoned(request: Request) -> bool:
    """Whether the shutdown settled the request (read anew: another thread sets it)."""
    return request.abandoned


def _chunks(entries: list[Any]) -> list[list[Any]]:
    """The queue's entries, :data:`DRAIN_CHUNK` records at a time."""
    step = DRAIN_CHUNK * SLOTS
    return [entries[i : i + step] for i in range(0, len(entries), step)]
