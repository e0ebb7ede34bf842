"""``CloudWatchLogRecordProcessor``: a CloudWatch-aware drop-in for ``BatchLogRecordProcessor``.

The application thread only copies the record and appends it to a bounded queue. A drain
thread encodes queued records into per-stream buffers (through the exporter) and hands a
stream's buffer to a small pool of sender threads as soon as it fills a PutLogEvents request
or its oldest record has waited the schedule delay. Each stream has at most one request in
flight (its order and sequence token stay consistent) and its own request-rate limiter, so a
throttled or failing stream holds back no other.

With a ``spool_dir`` (:mod:`.spool`), a request still failing after ``SPOOL_AFTER_S`` is
written to disk instead of being retried from memory, and its stream goes on writing to disk
until delivery works again; while more than half the memory bound is held, full requests that
have to wait go to disk too; meanwhile the drain thread takes spooled segments back, oldest
first, one at a time, and sends each as its stream's next request. What is left at shutdown
(or at SIGTERM) is spooled too.
"""

from __future__ import annotations

import collections
import inspect
import logging
import operator
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Union

from . import sigterm
from ._diag import RateLimitedLog
from ._fork import reinit_in_child
from ._guard import exporting, guarded
from ._metrics import observe
from ._sdk import ProcessorBase, batch_item, body_of, view
from ._sdk_metrics import ProcessorMetrics
from ._sdk_metrics import enabled as sdk_metrics_enabled
from .batching import DEFAULT_LIMITS
from .config import ProcessorConfig, ignoring_invalid_variables
from .events import LogEvent
from .exporter import CloudWatchLogExporter, ExporterStats
from .pacing import Pace
from .routing import Route
from .spool import Segment, Spool

RECORD_OVERHEAD_BYTES = 1280
"""Estimated memory of a queued record besides its body (the record, its attributes)."""

EVENT_OVERHEAD_BYTES = 448
"""Estimated memory of a buffered event besides its size as PutLogEvents counts it: the
objects around the message (about 230 bytes, by tracemalloc) and what the allocator keeps
beside them (about 150 more, from the resident size of a process holding 72,000 events),
with a margin."""

BODY_COPIES = 2.5
"""While a CloudWatch request is being sent, its body exists this many times more than its
events (their JSON pieces, then the body; 2.3 by tracemalloc)."""

_EVENT_SIZE = operator.attrgetter("size")
_DRAIN_CHUNK = 2048
"""Records encoded between two dispatch rounds; the drain thread is woken when this many
are queued (or a batch, if smaller): fewer wake-ups, fewer hand-overs of the GIL."""
SHUTDOWN_MARGIN_S = 0.5
"""Of a shutdown's time, what is kept after the flush for counting and reporting the rest."""
SPOOL_AFTER_S = 2.0
"""With a spool: how long a request is retried before its events go to disk instead."""
SPOOL_IDLE_S = 2.0
"""With a spool: how often to look for segments (of this or another process) when none was found."""
RETRY_BASE_S = 0.2
RETRY_MAX_S = 5.0
"""Backoff of a stream whose request was handed back after a passing failure."""


@dataclass
class _Stream:
    """Buffered work for one destination (a CloudWatch stream, or the whole exporter)."""

    route: Route | None
    pace: Pace
    buffer: collections.deque[tuple[Any, int]] = field(default_factory=collections.deque)
    buffer_bytes: int = 0
    first_at: float = 0.0
    in_flight: bool = False
    added: int = 0
    dispatched: int = 0
    done: int = 0
    failed: int = 0
    flush_target: int = 0
    failures: int = 0
    """Consecutive sends that ended with events handed back to retry."""
    retry_at: float = 0.0
    spooling: bool = False
    """Delivery to this stream is failing: its events go to the spool until a send works."""
    segment: Segment | None = None
    """A spooled segment claimed for this stream, to be sent before its buffer."""


@dataclass
class _Flush:
    """A force_flush request travelling through the queue behind the records before it."""

    done: threading.Event = field(default_factory=threading.Event)
    targets: dict[int, int] = field(default_factory=dict)
    failed_at: dict[int, int] = field(default_factory=dict)
    ok: bool = True


@dataclass(frozen=True)
class ProcessorStats:
    """The processor's counters; what reached the exporter is in ``exporter``.

    ``queued`` counts records waiting to be encoded plus events waiting to be sent (or being
    sent); ``queued_bytes`` is their estimated memory, with the bodies of requests being
    sent. ``queued`` less what is being sent stays within ``max_queue_size`` (as a batch
    being exported by the stock processor no longer counts), ``queued_bytes`` within
    ``max_queue_bytes`` (new records are dropped beyond it; the body of a request handed to
    a sender may take it over until it is sent). Once nothing is queued,
    ``received + unspooled == exporter.delivered + dropped_total + spooled``; summed over the
    processes that share a spool directory, once it is empty, ``spooled`` and ``unspooled``
    cancel out.
    """

    received: int
    queued: int
    queued_bytes: int
    dropped: MappingProxyType[str, int]
    exporter: ExporterStats | None
    spooled: int = 0
    """Events written to the spool (acknowledged: on disk) by this process."""
    unspooled: int = 0
    """Events taken back from the spool (written by any process) by this process."""

    @property
    def dropped_total(self) -> int:
        """Everything dropped, here and in the exporter."""
        exporter = self.exporter.dropped_total if self.exporter is not None else 0
        return sum(self.dropped.values()) + exporter


_WHY = {
    "after_shutdown": "after_shutdown (emitted after the processor was shut down, at exit)",
    "invalid_record": "invalid_record (not a log record the SDK makes)",
    "queue_full": "queue_full (more than max_queue_size or max_queue_bytes waiting)",
    "spool_full": "spool_full (the spool directory is at spool_max_bytes)",
    "spool_corrupt": "spool_corrupt (a spool segment could not be read; renamed .bad)",
}

_Entry = Union[tuple[Any, int], _Flush]
_Job = tuple[_Stream, list[tuple[Any, int]], Union[Segment, None]]


class CloudWatchLogRecordProcessor(ProcessorBase):
    """Batches log records per CloudWatch stream and sends full requests, never blocking the app.

    Takes the arguments of ``BatchLogRecordProcessor`` (and its ``OTEL_BLRP_*`` variables),
    plus ``max_queue_bytes``, ``requests_per_second`` (per stream; 0 for no limit),
    ``max_concurrent_requests``, ``flush_on_sigterm`` with ``sigterm_timeout_millis``
    (deliver what is queued when SIGTERM arrives and the application has no handler of its
    own; see :mod:`otel_cwlogs.sigterm`), and ``spool_dir`` with ``spool_max_bytes`` (keep
    what cannot be delivered on disk; see :mod:`otel_cwlogs.spool`), each also read from
    ``OTEL_EXPORTER_CLOUDWATCH_LOGS_<NAME>``.
    With an exporter other than :class:`CloudWatchLogExporter` it batches like the stock
    processor: ``max_export_batch_size`` records per ``export`` call, with no rate limit.
    """

    def __init__(
        self,
        exporter: Any,
        schedule_delay_millis: float | None = None,
        max_export_batch_size: int | None = None,
        export_timeout_millis: float | None = None,
        max_queue_size: int | None = None,
        *,
        max_queue_bytes: int | None = None,
        requests_per_second: float | None = None,
        max_concurrent_requests: int | None = None,
        flush_on_sigterm: bool | None = None,
        sigterm_timeout_millis: float | None = None,
        spool_dir: str | None = None,
        spool_max_bytes: int | None = None,
        meter_provider: Any = None,
    ) -> None:
        self._exporter = exporter
        self._cloudwatch = exporter if isinstance(exporter, CloudWatchLogExporter) else None
        config = ignoring_invalid_variables(
            lambda environ: ProcessorConfig.resolve(
                cloudwatch=self._cloudwatch is not None,
                environ=environ,
                schedule_delay_millis=schedule_delay_millis,
                max_export_batch_size=max_export_batch_size,
                export_timeout_millis=export_timeout_millis,
                max_queue_size=max_queue_size,
                max_queue_bytes=max_queue_bytes,
                requests_per_second=requests_per_second,
                max_concurrent_requests=max_concurrent_requests,
                flush_on_sigterm=flush_on_sigterm,
                sigterm_timeout_millis=sigterm_timeout_millis,
                spool_dir=spool_dir,
                spool_max_bytes=spool_max_bytes,
            )
        )
        self.config = config
        self._delay = config.schedule_delay_millis / 1000
        self._timeout = config.export_timeout_millis / 1000
        self._max_request_bytes = (
            DEFAULT_LIMITS.max_request_bytes if self._cloudwatch is not None else 2**62
        )
        self._wake_at = min(config.max_export_batch_size, _DRAIN_CHUNK)
        self._report = RateLimitedLog()
        self._shutdown = False
        self._sdk_metrics = (
            ProcessorMetrics(
                meter_provider, config.max_queue_size, self, CloudWatchLogRecordProcessor._waiting
            )
            if sdk_metrics_enabled()
            else None
        )
        self._start()
        observe(
            self,
            meter_provider,
            {
                "otel_cwlogs.processor.received": ("{record}", "", lambda p: p.stats().received),
                "otel_cwlogs.processor.dropped": (
                    "{record}",
                    "reason",
                    lambda p: p.stats().dropped,
                ),
            },
        )
        reinit_in_child(self._start)

    def _start(self) -> None:
        """Fresh state and threads: at construction, and in a forked child (new locks, an
        empty queue: what the parent queued is the parent's to send)."""
        self._lock = threading.Lock()
        self._received = 0
        self._dropped: collections.Counter[str] = collections.Counter()
        self._queue: collections.deque[_Entry] = collections.deque()
        self._queue_since = 0.0
        self._pending_records = 0
        self._pending_bytes = 0
        self._sending = 0
        """Events handed to the senders: like a batch being exported by the stock processor,
        they no longer count against max_queue_size (their bytes still count)."""
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._streams: dict[Route | None, _Stream] = {}
        self._flushes: list[_Flush] = []
        self._stopping = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._spool = (
            Spool(self.config.spool_dir, self.config.spool_max_bytes)
            if self.config.spool_dir is not None and self._cloudwatch is not None
            else None
        )
        self._spooled = 0
        self._unspooled = 0
        self._claim_at = 0.0
        self._claimed = False
        self._drainer = threading.Thread(target=self._drain_loop, daemon=True)
        self._drainer.name = "OtelCloudWatchLogsDrain"
        self._senders: list[threading.Thread] = []
        """One from the start, more as streams need them (a stream has one request in flight at
        a time), up to max_concurrent_requests: fewer threads contend with the application's
        for the GIL. The first is started here because Python 3.12+ starts no thread once the
        interpreter is shutting down, when the at-exit flush may need one."""
        self._drainer.start()
        self._add_senders(1)
        if self.config.flush_on_sigterm:
            sigterm.arm(self, self.config.sigterm_timeout_millis / 1000)

    # -- the application's side ------------------------------------------------------------

    def on_emit(self, log_record: Any) -> None:
        """Queue a record; never blocks, never raises, never does I/O."""
        if exporting():  # logged by the package's own work: not the application's
            return
        if self._shutdown:
            self._drop("after_shutdown")
            return
        try:
            if self._cloudwatch is not None:
                # what the encoder reads, taken now: no copy of the record to keep, and fewer
                # objects for the garbage collector to go through while records wait
                item = view(log_record)
                body = item.body
            else:
                item = batch_item(log_record)
                body = body_of(item)
            size = RECORD_OVERHEAD_BYTES + (len(body) if isinstance(body, str) else 64)
        except Exception:
            self._drop("invalid_record")
            return
        with self._lock:
            self._received += 1
            if (
                self._pending_records - self._sending >= self.config.max_queue_size
                or self._pending_bytes + size > self.config.max_queue_bytes
            ):
                full = True
            else:
                full = False
                if not self._queue:
                    self._queue_since = time.monotonic()
                self._queue.append((item, size))
                self._pending_records += 1
                self._pending_bytes += size
                wake = len(self._queue) >= self._wake_at
        if full:
            self._drop("queue_full", received=False)
        elif wake and not self._wake.is_set():
            self._wake.set()

    emit = on_emit  # SDK <= 1.34 calls emit()

    def _waiting(self) -> int:
        """Records and events waiting (not being sent): the queue size of the conventions."""
        return self._pending_records - self._sending

    def _drop(self, reason: str, received: bool = True) -> None:
        with self._lock:
            self._received += received
            self._dropped[reason] += 1
        if self._sdk_metrics:
            self._sdk_metrics.dropped(
                1, "already_shutdown" if reason == "after_shutdown" else reason
            )
        self._report.log(reason, logging.WARNING, "log records dropped: %s", _WHY[reason])

    # -- flush, shutdown, stats -------------------------------------------------------------

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Send everything queued before the call; True if all of it was delivered in time."""
        if self._shutdown:
            return False
        return self._flush(timeout_millis / 1000)

    def _flush(self, timeout_s: float) -> bool:
        request = _Flush()
        with self._lock:
            self._queue.append(request)
        self._wake.set()
        return request.done.wait(max(timeout_s, 0)) and request.ok

    def shutdown(self) -> None:
        """Flush, stop the threads, then shut the exporter down (within the export timeout)."""
        self._close(self._timeout)

    def _stop_within(self, timeout_s: float) -> None:
        """:meth:`shutdown` within ``timeout_s``, from a signal handler (see :mod:`.sigterm`).

        The work runs on a thread of its own, so a lock held by the code the signal
        interrupted can hold it up no longer than the timeout.
        """
        worker = threading.Thread(target=self._close, args=(timeout_s,), daemon=True)
        worker.name = "OtelCloudWatchLogsStop"
        worker.start()
        worker.join(timeout_s)

    def _close(self, timeout_s: float) -> None:
        if self._shutdown:
            return
        sigterm.disarm(self)
        deadline = time.monotonic() + timeout_s
        # a little of the time is kept for counting and reporting what is left
        report_at = deadline - min(SHUTDOWN_MARGIN_S, timeout_s / 5)
        self._shutdown = True  # from here on, new records are counted as dropped
        self._flush(report_at - time.monotonic())
        with self._state:
            self._stopping = True
        self._wake.set()
        self._drainer.join(max(0.0, report_at - time.monotonic()))
        for _ in self._senders:  # the drain thread, which starts them, has stopped
            self._jobs.put(None)
        for thread in self._senders:
            thread.join(max(0.0, report_at - time.monotonic()))
        self._count_leftovers()
        remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
        shutdown: Callable[..., Any] = self._exporter.shutdown
        try:
            accepts_timeout = "timeout_millis" in inspect.signature(shutdown).parameters
        except (TypeError, ValueError):
            accepts_timeout = False
        if accepts_timeout:
            shutdown(timeout_millis=remaining_ms)
        else:
            shutdown()

    def _count_leftovers(self) -> None:
        """What shutdown could not deliver in time is spooled (with a spool), or dropped and
        counted; a claimed spool segment not yet sent is put back."""
        with self._state:
            entries = [entry for stream in self._streams.values() for entry in stream.buffer]
            buffered = {s.route: [e for e, _ in s.buffer] for s in self._streams.values()}
            sending = sum(s.dispatched - s.done for s in self._streams.values() if s.in_flight)
            segments = [s.segment for s in self._streams.values() if s.segment is not None]
            for stream in self._streams.values():
                stream.buffer.clear()
                stream.buffer_bytes = 0
                stream.segment = None
        with self._lock:
            records = [entry for entry in self._queue if not isinstance(entry, _Flush)]
            self._queue.clear()
            # what is being sent stays pending until its sender is done with it
            self._pending_records -= len(entries) + len(records)
            self._pending_bytes -= self._memory(entries) + sum(size for _, size in records)
        left = sum(len(events) for events in buffered.values()) + len(records)
        if self._spool is not None and self._cloudwatch is not None:
            for segment in segments:
                self._spool.release(segment)
            by_route = {route: ev for route, ev in buffered.items() if route is not None and ev}
            if records:
                encoded = self._cloudwatch.encode([item for item, _ in records], _now_ms())
                for route, events in encoded.items():
                    by_route.setdefault(route, []).extend(events)
            left = 0
            for route, events in by_route.items():
                for chunk in self._chunks(events):
                    if self._spool_write(route, chunk):
                        continue
                    left += len(chunk)
                    with self._lock:
                        self._dropped["spool_full"] += len(chunk)
        elif left:
            with self._lock:
                self._dropped["undelivered_at_shutdown"] += left
        if left or sending:
            self._report.log(
                "shutdown",
                logging.WARNING,
                "shutdown: %d records not delivered in time (and %d still being sent)",
                left,
                sending,
            )

    def _chunks(self, events: list[LogEvent]) -> list[list[LogEvent]]:
        """Events cut into pieces of at most one request's count and bytes."""
        chunks: list[list[LogEvent]] = [[]]
        size = 0
        for event in events:
            if chunks[-1] and (
                len(chunks[-1]) >= self.config.max_export_batch_size
                or size + event.size > self._max_request_bytes
            ):
                chunks.append([])
                size = 0
            chunks[-1].append(event)
            size += event.size
        return [chunk for chunk in chunks if chunk]

    def stats(self) -> ProcessorStats:
        with self._lock:
            return ProcessorStats(
                received=self._received,
                queued=self._pending_records,
                queued_bytes=self._pending_bytes,
                dropped=MappingProxyType(dict(self._dropped)),
                exporter=self._cloudwatch.stats() if self._cloudwatch is not None else None,
                spooled=self._spooled,
                unspooled=self._unspooled,
            )

    # -- the drain thread --------------------------------------------------------------------

    @guarded
    def _drain_loop(self) -> None:
        while True:
            self._wake.wait(self._next_timeout())
            self._wake.clear()
            try:
                self._drain()
            except Exception:
                self._report.log("drain", logging.ERROR, "processor error", exc_info=True)
            with self._state:
                if self._stopping:
                    return

    def _next_timeout(self) -> float:
        now = time.monotonic()
        timeout = self._delay
        with self._lock:
            if self._queue:
                timeout = min(timeout, self._queue_since + self._delay - now)
        if self._spool is not None and not self._claimed and not self._shutdown:
            timeout = min(timeout, self._claim_at - now)
        with self._state:
            for stream in self._streams.values():
                if stream.segment is not None and not stream.in_flight:
                    timeout = min(timeout, max(stream.retry_at - now, stream.pace.wait(now)))
                if stream.buffer and not stream.in_flight:
                    due = stream.first_at + self._delay - now
                    if self._full(stream) or stream.dispatched < stream.flush_target:
                        due = 0.0
                    wait = max(due, stream.retry_at - now, stream.pace.wait(now))
                    timeout = min(timeout, wait)
        return max(timeout, 0.001)

    def _take_queue(self) -> tuple[collections.deque[_Entry], float]:
        with self._lock:
            entries, self._queue = self._queue, collections.deque()
            return entries, self._queue_since

    def _drain(self) -> None:
        entries, since = self._take_queue()
        records: list[tuple[Any, int]] = []
        for entry in entries:
            if isinstance(entry, _Flush):
                self._buffer(records, since)
                records = []
                self._begin_flush(entry)
            else:
                records.append(entry)
                if len(records) >= _DRAIN_CHUNK:
                    self._buffer(records, since)
                    records = []
                    self._dispatch()
        self._buffer(records, since)
        self._dispatch()

    def _buffer(self, records: list[tuple[Any, int]], since: float) -> None:
        """Move records from the queue into stream buffers (encoded, for CloudWatch)."""
        if not records:
            return
        released = sum(size for _, size in records)
        if self._sdk_metrics:
            self._sdk_metrics.processed(len(records))
        grouped: dict[Route | None, tuple[list[tuple[Any, int]], int]] = {}
        if self._cloudwatch is not None:
            encoded = self._cloudwatch.encode([item for item, _ in records], _now_ms())
            for stream_route, events in encoded.items():
                sizes = list(map(_EVENT_SIZE, events))
                grouped[stream_route] = (list(zip(events, sizes)), sum(sizes))
        else:
            grouped[None] = (records, released)
        count = sum(len(entries) for entries, _ in grouped.values())
        added = self._estimate(count, sum(size for _, size in grouped.values()))
        with self._lock:  # a queued record becomes its buffered events, until they are sent
            self._pending_records += count - len(records)
            self._pending_bytes += added - released
        with self._state:
            for route, (entries, size) in grouped.items():
                stream = self._stream_for(route)
                if not stream.buffer:
                    stream.first_at = since
                stream.buffer.extend(entries)
                stream.buffer_bytes += size
                stream.added += len(entries)

    def _stream_for(self, route: Route | None) -> _Stream:
        """The stream of a route, made on first use (call with _state held)."""
        stream = self._streams.get(route)
        if stream is None:
            rate = self.config.requests_per_second if route is not None else 0
            stream = self._streams[route] = _Stream(route, Pace(rate, time.monotonic()))
        return stream

    def _begin_flush(self, request: _Flush) -> None:
        with self._state:
            for stream in self._streams.values():
                if stream.done < stream.added:
                    request.targets[id(stream)] = stream.added
                    request.failed_at[id(stream)] = stream.failed
                    stream.flush_target = max(stream.flush_target, stream.added)
            self._flushes.append(request)
            self._settle_flushes()

    def _settle_flushes(self) -> None:
        """Complete the flush requests whose records are all done (call with _state held)."""
        streams = {id(stream): stream for stream in self._streams.values()}
        for request in list(self._flushes):
            if all(streams[key].done >= target for key, target in request.targets.items()):
                request.ok = all(
                    streams[key].failed == failed for key, failed in request.failed_at.items()
                )
                self._flushes.remove(request)
                request.done.set()

    def _memory(self, entries: Sequence[tuple[Any, int]]) -> int:
        """Estimated memory of buffered entries (records as queued, or encoded events)."""
        return self._estimate(len(entries), sum(size for _, size in entries))

    def _estimate(self, count: int, size: int) -> int:
        """Estimated memory of ``count`` buffered entries of ``size`` bytes in all."""
        overhead = EVENT_OVERHEAD_BYTES if self._cloudwatch is not None else 0
        return size + overhead * count

    def _body_bytes(self, job: list[tuple[Any, int]]) -> int:
        """Estimated memory of a request's body while it is sent (CloudWatch requests only:
        what another exporter makes of a batch is its own)."""
        if self._cloudwatch is None:
            return 0
        return int(BODY_COPIES * sum(size for _, size in job))

    def _full(self, stream: _Stream) -> bool:
        return (
            len(stream.buffer) >= self.config.max_export_batch_size
            or stream.buffer_bytes >= self._max_request_bytes
        )

    def _dispatch(self) -> None:
        """Hand every due stream's next request to the senders, or, for a stream whose
        delivery is failing, to the spool; a claimed spool segment goes first."""
        self._claim_segment()
        now = time.monotonic()
        to_spool: list[tuple[_Stream, list[tuple[Any, int]]]] = []
        handed = busy = body_bytes = 0
        overflow = self._spool is not None and (
            self._pending_records > self.config.max_queue_size // 2
            or self._pending_bytes > self.config.max_queue_bytes // 2
        )
        with self._state:
            for stream in self._streams.values():
                busy = stream.in_flight or now < stream.retry_at or stream.pace.wait(now) > 0
                if overflow and busy and stream.route is not None and self._full(stream):
                    # more than half the memory bound is held: a full request that has to
                    # wait goes to disk rather than towards a queue_full drop
                    job = self._take_request(stream)
                    stream.dispatched += len(job)
                    to_spool.append((stream, job))
                if stream.in_flight or now < stream.retry_at:
                    continue
                if stream.segment is not None:
                    if stream.pace.wait(now) > 0:
                        continue
                    segment, stream.segment = stream.segment, None
                    stream.in_flight = True
                    self._jobs.put((stream, [(e, e.size) for e in segment.events], segment))
                    continue
                if not stream.buffer:
                    continue
                due = (
                    self._full(stream)
                    or now - stream.first_at >= self._delay
                    or stream.dispatched < stream.flush_target
                    or self._shutdown
                )
                if not due:
                    continue
                if stream.spooling:
                    while stream.buffer:
                        job = self._take_request(stream)
                        stream.dispatched += len(job)
                        to_spool.append((stream, job))
                    continue
                if stream.pace.wait(now) > 0:
                    continue
                job = self._take_request(stream)
                stream.in_flight = True
                stream.dispatched += len(job)
                handed += len(job)
                body_bytes += self._body_bytes(job)
                self._jobs.put((stream, job, None))
            busy = sum(1 for stream in self._streams.values() if stream.in_flight)
        if handed:
            with self._lock:
                self._sending += handed
                self._pending_bytes += body_bytes
        self._add_senders(busy)
        for stream, job in to_spool:
            self._spool_job(stream, job)

    def _add_senders(self, busy: int) -> None:
        """Start senders until there is one per stream with a request out (up to the bound).

        At interpreter shutdown no thread can start: the senders there are share the work."""
        while len(self._senders) < min(busy, self.config.max_concurrent_requests):
            sender = threading.Thread(target=self._send_loop, daemon=True)
            sender.name = f"OtelCloudWatchLogsSend-{len(self._senders)}"
            try:
                sender.start()
            except RuntimeError:
                return
            self._senders.append(sender)

    def _take_request(self, stream: _Stream) -> list[tuple[Any, int]]:
        job: list[tuple[Any, int]] = []
        size = 0
        while stream.buffer and len(job) < self.config.max_export_batch_size:
            entry = stream.buffer[0]
            if job and size + entry[1] > self._max_request_bytes:
                break
            job.append(stream.buffer.popleft())
            size += entry[1]
        stream.buffer_bytes -= size
        return job

    # -- the sender threads ------------------------------------------------------------------

    @guarded
    def _send_loop(self) -> None:
        while True:
            work = self._jobs.get()
            if work is None:
                return
            stream, job, segment = work
            ok = False
            retry: list[Any] = []
            try:
                payloads = [payload for payload, _ in job]
                ok, retry = self._send(stream.route, payloads, segment, stream.pace)
            except Exception:
                self._report.log("send", logging.ERROR, "processor error", exc_info=True)
                retry = [payload for payload, _ in job] if segment is not None else []
            if segment is not None:
                self._segment_sent(stream, segment, retry)
            else:
                self._sent(stream, job, ok, retry)
            self._wake.set()

    def _sent(
        self, stream: _Stream, job: list[tuple[Any, int]], ok: bool, retry: list[Any]
    ) -> None:
        """Account for a request of the stream's own; what failed is spooled or kept."""
        retry_ids = {id(payload) for payload in retry}
        kept = [entry for entry in job if id(entry[0]) in retry_ids]
        finished = [entry for entry in job if id(entry[0]) not in retry_ids]
        spooled: list[tuple[Any, int]] = []
        if (
            kept
            and stream.route is not None
            and self._spool_write(stream.route, [event for event, _ in kept])
        ):
            spooled, kept = kept, []
        lost: list[tuple[Any, int]] = []
        if kept and self._shutdown:  # shut down meanwhile: nothing will send them again
            lost, kept = kept, []
        with self._lock:
            self._sending -= len(job)
            self._pending_records -= len(finished) + len(spooled) + len(lost)
            self._pending_bytes -= self._memory(finished + spooled + lost) + self._body_bytes(job)
            self._spooled += len(spooled)
            if lost:
                reason = "spool_full" if self._spool is not None else "undelivered_at_shutdown"
                self._dropped[reason] += len(lost)
        with self._state:
            stream.in_flight = False
            stream.done += len(finished) + len(spooled) + len(lost)
            stream.failed += (0 if ok else len(finished)) + len(spooled) + len(lost)
            if spooled:  # delivery is failing: the stream's next events go to disk too
                stream.spooling = True
            if kept:  # a passing failure outlasted the timeout: back to the front, later
                stream.buffer.extendleft(reversed(kept))
                stream.buffer_bytes += sum(size for _, size in kept)
                stream.dispatched -= len(kept)
                stream.failures += 1
                stream.retry_at = time.monotonic() + _backoff(stream.failures)
            else:
                stream.failures = 0
            self._settle_flushes()

    def _send(
        self,
        route: Route | None,
        payloads: Sequence[Any],
        segment: Segment | None,
        pace: Pace | None = None,
    ) -> tuple[bool, list[Any]]:
        """(nothing lost?, payloads handed back: to send again later, or to spool)."""
        if self._cloudwatch is not None and route is not None:
            timeout = min(self._timeout, self._cloudwatch.timeout_s)
            if self._spool is not None:
                timeout = min(timeout, SPOOL_AFTER_S)
            deadline = time.monotonic() + timeout
            events: list[LogEvent] = list(payloads)
            return self._cloudwatch.deliver(
                route,
                events,
                _now_ms(),
                deadline,
                keep_retryable=not self._shutdown,
                keep_failed=self._spool is not None,
                possible_duplicates=segment is not None and segment.taken_over,
                pace=pace,
            )
        result = self._exporter.export(list(payloads))
        return getattr(result, "name", "SUCCESS") == "SUCCESS", []

    # -- the spool ---------------------------------------------------------------------------

    def _spool_write(self, route: Route, events: list[LogEvent]) -> bool:
        """Write events to the spool; False without a spool, when it is full, or on an error."""
        if self._spool is None or not events:
            return False
        try:
            return self._spool.write(route, events)
        except OSError as error:
            self._report.log("spool", logging.ERROR, "could not write to the spool: %s", error)
            return False

    def _spool_job(self, stream: _Stream, job: list[tuple[Any, int]]) -> None:
        """Spool a request's worth of a failing stream; when the spool cannot take it, the
        events go back to the buffer and the stream back to sending."""
        assert stream.route is not None
        written = self._spool_write(stream.route, [event for event, _ in job])
        if written:
            with self._lock:
                self._pending_records -= len(job)
                self._pending_bytes -= self._memory(job)
                self._spooled += len(job)
        with self._state:
            if written:
                stream.done += len(job)
                stream.failed += len(job)
            else:
                stream.buffer.extendleft(reversed(job))
                stream.buffer_bytes += sum(size for _, size in job)
                stream.dispatched -= len(job)
                stream.spooling = False
            self._settle_flushes()

    def _claim_segment(self) -> None:
        """Take the oldest spooled segment (of any process) for its stream, when it is time."""
        if self._spool is None or self._claimed or self._shutdown:
            return
        now = time.monotonic()
        if now < self._claim_at:
            return
        try:
            segment, bad = self._spool.claim()
        except OSError as error:
            self._report.log("spool", logging.ERROR, "could not read the spool: %s", error)
            segment, bad = None, 0
        if bad:
            with self._lock:
                self._unspooled += bad
                self._dropped["spool_corrupt"] += bad
            self._report.log(
                "spool_corrupt", logging.WARNING, "log records dropped: %s", _WHY["spool_corrupt"]
            )
        if segment is None:
            self._claim_at = now + SPOOL_IDLE_S
            return
        with self._state:
            self._stream_for(segment.route).segment = segment
            self._claimed = True

    def _segment_sent(self, stream: _Stream, segment: Segment, retry: list[Any]) -> None:
        """Account for a spooled segment sent: removed once delivered, else put back (or, if
        only part of it failed, that part written anew)."""
        assert self._spool is not None
        if retry and len(retry) == len(segment.events):
            self._spool.release(segment)
        else:
            written = bool(retry) and self._spool_write(segment.route, list(retry))
            self._spool.done(segment)
            with self._lock:
                self._unspooled += len(segment.events)
                self._spooled += len(retry) if written else 0
                if retry and not written:
                    self._dropped["spool_full"] += len(retry)
        with self._state:
            stream.in_flight = False
            self._claimed = False
            if retry:
                stream.failures += 1
                self._claim_at = time.monotonic() + _backoff(stream.failures)
            else:  # delivery works: the stream sends its own events again
                stream.spooling = False
                stream.failures = 0
                self._claim_at = 0.0
            self._settle_flushes()


def _backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failed sends: exponential, half-jittered."""
    backoff: float = min(RETRY_MAX_S, RETRY_BASE_S * 2.0 ** (failures - 1))
    return backoff * (0.5 + random.random() / 2)


def _now_ms() -> int:
    return int(time.time() * 1000)
