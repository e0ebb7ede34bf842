"""``CloudWatchLogRecordProcessor``: a CloudWatch-aware drop-in for ``BatchLogRecordProcessor``.

A thin shell over the engine, as the SDK's processor is over its shared ``BatchProcessor``.
One record's way through it:

1. ``on_emit`` (the application's thread) reads the fields the encoder needs and appends them
   to the :class:`~.intake.Intake`'s bounded queue, or counts the record as dropped;
2. the drain thread (:mod:`.workers`) takes the queue, encodes the records into CloudWatch
   events (:mod:`.delivery`, :mod:`.events`) and adds them to their streams' buffers in the
   :class:`~.scheduler.Scheduler`;
3. the scheduler decides when a stream's request goes (full, or its oldest event waited the
   schedule delay, within its pace and backoff) and a sender thread makes one attempt
   (:meth:`.client.LogsEdge.attempt`, one PutLogEvents call);
4. the scheduler settles the attempt's outcome: delivered, tried again later, written to the
   spool (:mod:`.spool`), or dropped with a reason; the intake's ledger follows each step.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable

from . import sigterm
from ._diag import RateLimitedLog
from ._fork import reinit_in_child
from ._guard import exporting, own_work
from ._metrics import observe
from ._sdk import ProcessorBase, batch_item, body_of, view
from ._sdk_metrics import ProcessorMetrics
from ._sdk_metrics import enabled as sdk_metrics_enabled
from .capture import Source, skipping
from .client import RetryPolicy
from .config import ProcessorConfig, env_name, ignoring_invalid_variables
from .delivery import CloudWatchDelivery, Delivery, ExporterDelivery
from .exporter import CloudWatchLogExporter, ExporterStats
from .intake import DROP_REASONS, Intake
from .scheduler import Scheduler, Settings
from .spool import Spool, route_key, spool_directory
from .workers import Workers

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

SPOOL_AFTER_S = 2.0
"""With a spool: how long a request is tried before its events go to disk instead; each
attempt is bounded by it too, so an endpoint that never answers cannot hold them longer."""
SPOOL_IDLE_S = 2.0
"""With a spool: how often to look for segments (of this or another process) when none was found."""
IDLE_STREAM_S = 60.0
"""A stream with nothing to do for this long is forgotten (made anew if it comes back)."""
WAKE_AT = 2048
"""The drain thread is woken when this many records are queued (or a batch, if smaller):
fewer wake-ups, fewer hand-overs of the GIL."""


def _reserve(timeout_s: float, spool: bool) -> float:
    """Of a shutdown's time, what is kept for what is left: writing it to the spool takes
    time, counting it does not."""
    return min(2.0, 0.4 * timeout_s) if spool else min(0.2, 0.1 * timeout_s)


@dataclass(frozen=True)
class ProcessorStats:
    """The processor's counters; what reached the exporter is in ``exporter``.

    ``queued`` counts records waiting to be encoded plus events waiting to be sent (or being
    sent, or written to the spool); ``queued_bytes`` is their estimated memory, with the bodies
    of requests being sent. ``queued`` less what is being sent stays within
    ``max_queue_size`` (as a batch being exported by the stock processor no longer counts),
    ``queued_bytes`` within ``max_queue_bytes`` (new records are dropped beyond it). Once
    nothing is queued, and after shutdown,
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


class CloudWatchLogRecordProcessor(ProcessorBase):
    """Batches log records per CloudWatch stream and sends full requests, never blocking the app.

    Takes the arguments of ``BatchLogRecordProcessor`` (and its ``OTEL_BLRP_*`` variables),
    plus ``max_queue_bytes``, ``requests_per_second`` (per stream; 0 for no limit),
    ``max_concurrent_requests``, ``shutdown_timeout_millis`` (how long ``shutdown`` and a
    SIGTERM may take in all), ``flush_on_sigterm`` (deliver what is queued when SIGTERM
    arrives and the application has no handler of its own; see :mod:`otel_cwlogs.sigterm`),
    and ``spool_dir`` with ``spool_max_bytes`` (keep what cannot be delivered on disk; see
    :mod:`otel_cwlogs.spool`), each also read from ``OTEL_EXPORTER_CLOUDWATCH_LOGS_<NAME>``.
    ``sigterm_timeout_millis`` is another name of ``shutdown_timeout_millis``.
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
        shutdown_timeout_millis: float | None = None,
        flush_on_sigterm: bool | None = None,
        sigterm_timeout_millis: float | None = None,
        spool_dir: str | None = None,
        spool_max_bytes: int | None = None,
        meter_provider: Any = None,
    ) -> None:
        self._exporter = exporter
        cloudwatch = exporter if isinstance(exporter, CloudWatchLogExporter) else None
        self._cloudwatch = cloudwatch
        config = ignoring_invalid_variables(
            lambda environ: ProcessorConfig.resolve(
                cloudwatch=cloudwatch is not None,
                environ=environ,
                schedule_delay_millis=schedule_delay_millis,
                max_export_batch_size=max_export_batch_size,
                export_timeout_millis=export_timeout_millis,
                max_queue_size=max_queue_size,
                max_queue_bytes=max_queue_bytes,
                requests_per_second=requests_per_second,
                max_concurrent_requests=max_concurrent_requests,
                shutdown_timeout_millis=shutdown_timeout_millis,
                flush_on_sigterm=flush_on_sigterm,
                sigterm_timeout_millis=sigterm_timeout_millis,
                spool_dir=spool_dir,
                spool_max_bytes=spool_max_bytes,
            )
        )
        self.config = config
        self._delivery: Delivery = (
            CloudWatchDelivery(cloudwatch) if cloudwatch is not None else ExporterDelivery(exporter)
        )
        self._spool_path = None
        if config.spool_dir is not None and cloudwatch is not None:
            setting = "spool_dir" if spool_dir is not None else env_name("spool_dir")
            self._spool_path = spool_directory(config.spool_dir, setting)
        if cloudwatch is not None:
            attempt_s = config.export_timeout_millis / 1000
            if self._spool_path is not None:
                attempt_s = min(attempt_s, SPOOL_AFTER_S)
            if attempt_s < cloudwatch.timeout_s:
                cloudwatch.edge.bound_attempts(attempt_s)
        self._report = RateLimitedLog()
        self._closed = False
        self._sdk_metrics = (
            ProcessorMetrics(
                meter_provider,
                config.max_queue_size,
                self,
                CloudWatchLogRecordProcessor._waiting,
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
        config = self.config
        cloudwatch = self._cloudwatch is not None
        wake = threading.Event()
        self._intake = Intake(
            config.max_queue_size,
            config.max_queue_bytes,
            min(config.max_export_batch_size, WAKE_AT),
            wake,
        )
        spool = (
            Spool(self._spool_path, config.spool_max_bytes)
            if self._spool_path is not None
            else None
        )
        settings = Settings(
            delay_s=config.schedule_delay_millis / 1000,
            max_events=config.max_export_batch_size,
            max_bytes=self._delivery.max_request_bytes,
            rate=config.requests_per_second if cloudwatch else 0.0,
            max_in_flight=config.max_concurrent_requests,
            policy=RetryPolicy(),
            spool=spool is not None,
            disk_key=route_key,  # type: ignore[arg-type]
            handover_s=SPOOL_AFTER_S,
            idle_s=IDLE_STREAM_S,
            claim_idle_s=SPOOL_IDLE_S,
            max_again=RetryPolicy().max_again,
            event_overhead=EVENT_OVERHEAD_BYTES if cloudwatch else 0,
            body_copies=BODY_COPIES if cloudwatch else 0.0,
        )
        self._workers = Workers(
            intake=self._intake,
            scheduler=Scheduler(settings, self._intake, time.monotonic()),
            delivery=self._delivery,
            spool=spool,
            wake=wake,
            delay_s=settings.delay_s,
            max_senders=config.max_concurrent_requests,
            event_overhead=settings.event_overhead,
            on_processed=self._sdk_metrics.processed if self._sdk_metrics else None,
            on_dropped=self._sdk_metrics.dropped if self._sdk_metrics else None,
            report=self._report,
        )
        if self._closed:  # shut down before the fork: the child's records are dropped too
            self._intake.close()
            return
        self._workers.start()
        if config.flush_on_sigterm:
            sigterm.arm(self, config.shutdown_timeout_millis / 1000)

    # -- the application's side ------------------------------------------------------------

    def on_emit(self, log_record: Any) -> None:
        """Queue a record; never blocks, never raises, never does I/O."""
        if exporting():  # logged by the package's own work: not the application's
            return
        if self in skipping.processors:  # given to on_capture already
            return
        if self._intake.closed:  # (the intake decides under its lock; this saves the read)
            self._intake.refuse("after_shutdown")
            self._dropped_now("after_shutdown")
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
            self._intake.refuse("invalid_record")
            self._dropped_now("invalid_record")
            return
        reason = self._intake.admit(item, size)
        if reason is not None:
            self._dropped_now(reason)

    emit = on_emit  # SDK <= 1.34 calls emit()

    @property
    def takes_captured(self) -> bool:
        """Whether :class:`~otel_cwlogs.LoggingHandler` may give it :meth:`on_capture`'s
        items instead of SDK records (with our exporter, which encodes them)."""
        return self._cloudwatch is not None

    def on_capture(self, source: Source, parts: tuple[Any, ...]) -> None:
        """:meth:`on_emit` for what the handler took of a record: its source, and its
        body, time, context, fields and attributes (see :mod:`.capture`)."""
        if own_work.depth:  # the package's own record, given to the handler's emit directly
            return
        body = parts[0]
        size = RECORD_OVERHEAD_BYTES + (len(body) if isinstance(body, str) else 64)
        reason = self._intake.admit(source, size, parts)
        if reason is not None:
            self._dropped_now(reason)

    def _dropped_now(self, reason: str) -> None:
        if self._sdk_metrics:
            self._sdk_metrics.dropped(
                1, "already_shutdown" if reason == "after_shutdown" else reason
            )
        self._report.tally(
            f"dropped:{reason}",
            1,
            logging.WARNING,
            "%d log record(s) dropped: %s (%s)",
            reason,
            DROP_REASONS[reason],
        )

    def _waiting(self) -> int:
        """Records and events waiting (not being sent): the queue size of the conventions."""
        return self._intake.waiting

    # -- flush, shutdown, stats -------------------------------------------------------------

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Send everything queued before the call; True if all of it was delivered in time."""
        if self._closed or self._intake.closed:
            return False
        return self._workers.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Deliver what is held, stop the threads, then shut the exporter down, all within
        ``shutdown_timeout_millis``; what is not delivered by then is spooled or counted."""
        self._close(self.config.shutdown_timeout_millis / 1000)

    def _stop_within(self, timeout_s: float) -> None:
        """:meth:`shutdown` within ``timeout_s``, from a signal handler (see :mod:`.sigterm`)."""
        self._workers.stop_within(lambda: self._close(timeout_s), timeout_s)

    def _close(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        sigterm.disarm(self)
        before = self.stats()
        if not self._workers.close(timeout_s, _reserve(timeout_s, self._spool_path is not None)):
            return
        self._closed = True
        self._summarize(before)
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

    def _summarize(self, before: ProcessorStats) -> None:
        """One line on stderr (through the package's logger) when anything of this process's
        life was not delivered: what the shutdown spooled, and every drop by reason."""
        after = self.stats()
        dropped: Counter[str] = Counter(after.dropped)
        if after.exporter is not None:
            dropped.update(after.exporter.dropped)
        spooled = after.spooled - before.spooled
        if not dropped and not spooled:
            return
        parts = []
        if spooled:
            parts.append(f"{spooled} written to the spool at shutdown, to be delivered later")
        if dropped:
            reasons = "; ".join(
                f"{reason}={count}: {DROP_REASONS[reason]}"
                if reason in DROP_REASONS
                else f"{reason}={count}"
                for reason, count in sorted(dropped.items())
            )
            parts.append(f"{sum(dropped.values())} dropped ({reasons})")
        self._report.log(
            "shutdown",
            logging.WARNING,
            "shutdown: of %d log records received, %s",
            after.received,
            "; ".join(parts),
        )

    def stats(self) -> ProcessorStats:
        intake = self._intake
        with intake.lock:
            snapshot = (
                intake.received,
                intake.queued + intake.held + intake.active,
                intake.bytes,
                MappingProxyType(dict(intake.dropped)),
                intake.spooled,
                intake.unspooled,
            )
        received, queued, queued_bytes, dropped, spooled, unspooled = snapshot
        return ProcessorStats(
            received=received,
            queued=queued,
            queued_bytes=queued_bytes,
            dropped=dropped,
            exporter=self._cloudwatch.stats() if self._cloudwatch is not None else None,
            spooled=spooled,
            unspooled=unspooled,
        )
