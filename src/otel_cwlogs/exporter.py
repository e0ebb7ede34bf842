"""``CloudWatchLogExporter``: the OpenTelemetry-facing shell over events, batching and the edge."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import boto3

from ._diag import RateLimitedLog
from ._fork import reinit_in_child
from ._guard import guarded, protect_root_handlers
from ._metrics import observe
from ._sdk import ExporterBase, ExportResult, RecordView, view
from ._sdk_metrics import ExporterMetrics
from ._sdk_metrics import enabled as sdk_metrics_enabled
from .batching import plan_requests
from .client import DeliveryError, LogsEdge, RetryPolicy, make_client
from .config import ExporterConfig, env_name, ignoring_invalid_variables
from .credentials import assumed_role_session, base_session
from .events import EventEncoder, LogEvent, Selection
from .pacing import Pace
from .routing import Route, Router

NOT_RETRYABLE_HINTS = {
    "AccessDeniedException": "the credentials lack an IAM permission (logs:PutLogEvents, "
    "logs:CreateLogStream, logs:CreateLogGroup, logs:PutRetentionPolicy)",
    "UnrecognizedClientException": "the AWS access key id or secret key is not valid",
    "InvalidParameterException": "CloudWatch refused the request's parameters",
    "ResourceNotFoundException": "the log group or stream does not exist",
    "NoCredentialsError": "no AWS credentials were found (environment, profile or role)",
}


@dataclass(frozen=True)
class ExporterStats:
    """Counters since the exporter was made.

    With ``oversize="truncate"`` every record that is not dropped becomes one event, so
    ``records == delivered + dropped_total`` once nothing is in flight; ``split`` adds
    ``events - records`` parts.

    ``dropped`` counts events by reason, except ``invalid_record`` (a batch item that is
    not a log record), ``empty`` (a ``body``-format record with an empty body) and
    ``after_shutdown``, which count records. ``modified`` counts records that were
    ``repaired`` (invalid text), ``truncated``, ``split`` or ``depth_limited``.
    """

    records: int
    events: int
    delivered: int
    requests: int
    failed_requests: int
    retries: Mapping[str, int]
    dropped: Mapping[str, int]
    modified: Mapping[str, int]
    possible_duplicates: int = 0
    """Events delivered by a retry after an attempt whose response was lost: CloudWatch may
    hold these twice."""
    entity_rejected: int = 0
    """Requests whose entity CloudWatch refused (``rejectedEntityInfo``); not a drop."""

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


_MODIFIED = ("repaired", "truncated", "split", "depth_limited")


class CloudWatchLogExporter(ExporterBase):
    """Exports OpenTelemetry log records to CloudWatch Logs with PutLogEvents.

    Every argument may be left out; it is then read from ``OTEL_EXPORTER_CLOUDWATCH_LOGS_<NAME>``
    (e.g. ``..._LOG_GROUP_NAME``), else defaults apply. ``log_group_name`` and
    ``log_stream_name`` are templates over resource attributes (see :mod:`otel_cwlogs.routing`).
    Pass a ready boto3 ``logs`` ``client``, or a boto3 ``session`` to make one from. TLS
    certificates are verified unless ``verify`` says otherwise (False, or a CA bundle path).
    The counters of :meth:`stats` are also OpenTelemetry metrics (``otel_cwlogs.exporter.*``)
    of ``meter_provider``, or of the global one.
    """

    def __init__(
        self,
        *,
        log_group_name: str | None = None,
        log_stream_name: str | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
        session: boto3.session.Session | None = None,
        create_log_group: bool | None = None,
        retention_in_days: int | None = None,
        tags: Mapping[str, str] | None = None,
        message_format: str | None = None,
        max_event_bytes: int | None = None,
        oversize: str | None = None,
        export_timeout_millis: float | None = None,
        verify: bool | str | None = None,
        entity: bool | None = None,
        profile_name: str | None = None,
        role_arn: str | None = None,
        role_session_name: str | None = None,
        external_id: str | None = None,
        log_group_class: str | None = None,
        kms_key_id: str | None = None,
        event_resource_attributes: str | Sequence[str] | None = None,
        event_code_attributes: bool | None = None,
        meter_provider: Any = None,
    ) -> None:
        def build(environ: Mapping[str, str]) -> tuple[ExporterConfig, Router, LogsEdge]:
            config = ExporterConfig.resolve(
                environ,
                log_group_name=log_group_name,
                log_stream_name=log_stream_name,
                region_name=region_name,
                endpoint_url=endpoint_url,
                create_log_group=create_log_group,
                retention_in_days=retention_in_days,
                tags=tags,
                message_format=message_format,
                max_event_bytes=max_event_bytes,
                oversize=oversize,
                export_timeout_millis=export_timeout_millis,
                verify=verify,
                entity=entity,
                profile_name=profile_name,
                role_arn=role_arn,
                role_session_name=role_session_name,
                external_id=external_id,
                log_group_class=log_group_class,
                kms_key_id=kms_key_id,
                event_resource_attributes=event_resource_attributes,
                event_code_attributes=event_code_attributes,
            )
            router = Router(
                config.log_group_name,
                config.log_stream_name,
                entity=config.entity,
                group_setting="log_group_name" if log_group_name else env_name("log_group_name"),
                stream_setting=(
                    "log_stream_name" if log_stream_name else env_name("log_stream_name")
                ),
            )

            def factory() -> Any:
                aws = base_session(session, config.profile_name)
                if config.role_arn is not None:
                    aws = assumed_role_session(
                        aws, config.role_arn, config.role_session_name, config.external_id
                    )
                return make_client(
                    session=aws,
                    region_name=config.region_name,
                    endpoint_url=config.endpoint_url,
                    timeout_s=config.export_timeout_millis / 1000,
                    verify=config.verify,
                    endpoint_setting="endpoint_url" if endpoint_url else env_name("endpoint_url"),
                    region_setting="region_name" if region_name else env_name("region_name"),
                )

            edge = LogsEdge(
                (lambda: client) if client is not None else factory,
                owns_client=client is None,
                create_log_group=config.create_log_group,
                retention_in_days=config.retention_in_days,
                tags=config.tags,
                policy=RetryPolicy(),
                log_group_class=config.log_group_class,
                kms_key_id=config.kms_key_id,
            )
            return config, router, edge

        config, self._router, self._edge = ignoring_invalid_variables(build)
        self.config = config
        self._encoder = EventEncoder(
            config.message_format,
            config.max_event_bytes,
            config.oversize,
            Selection.parse(config.event_resource_attributes, config.event_code_attributes),
        )
        timeout_s = config.export_timeout_millis / 1000
        self.timeout_s = timeout_s
        self._shutdown = False
        self._init_locks()
        reinit_in_child(self._after_fork)
        self._records = self._events = self._delivered = 0
        self._requests = self._failed_requests = 0
        self._dropped: Counter[str] = Counter()
        self._modified: Counter[str] = Counter()
        self._possible_duplicates = 0
        self._entity_rejected = 0
        self._sdk_metrics = ExporterMetrics(meter_provider) if sdk_metrics_enabled() else None
        observe(
            self,
            meter_provider,
            {
                "otel_cwlogs.exporter.records": ("{record}", "", lambda e: e.stats().records),
                "otel_cwlogs.exporter.events": ("{event}", "", lambda e: e.stats().events),
                "otel_cwlogs.exporter.delivered": ("{event}", "", lambda e: e.stats().delivered),
                "otel_cwlogs.exporter.requests": ("{request}", "", lambda e: e.stats().requests),
                "otel_cwlogs.exporter.retries": ("{retry}", "cause", lambda e: e.stats().retries),
                "otel_cwlogs.exporter.dropped": ("{event}", "reason", lambda e: e.stats().dropped),
                "otel_cwlogs.exporter.possible_duplicates": (
                    "{event}",
                    "",
                    lambda e: e.stats().possible_duplicates,
                ),
            },
        )

    def _init_locks(self) -> None:
        self._export_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._report = RateLimitedLog()

    def _after_fork(self) -> None:
        """In a forked child: locks a parent thread may have held are new, the client too."""
        self._init_locks()
        self._router.after_fork()
        self._edge.after_fork()

    @guarded
    def export(self, batch: Sequence[Any]) -> ExportResult:
        """Send a batch; never raises. FAILURE only when some events could not be delivered."""
        if self._shutdown:
            self._count_dropped("after_shutdown", len(batch))
            return ExportResult.FAILURE
        protect_root_handlers()
        try:
            with self._export_lock:
                now_ms = int(time.time() * 1000)
                deadline = time.monotonic() + self.timeout_s
                ok = True
                for route, events in self.encode(batch, now_ms).items():
                    ok = self.deliver(route, events, now_ms, deadline)[0] and ok
                return ExportResult.SUCCESS if ok else ExportResult.FAILURE
        except Exception:
            self._report.log("export-error", logging.ERROR, "export failed", exc_info=True)
            return ExportResult.FAILURE

    def encode(self, batch: Sequence[Any], now_ms: int) -> dict[Route, list[LogEvent]]:
        """Route and encode batch items into events per stream, keeping their order.

        Items that are not log records are counted and left out; records changed to fit
        CloudWatch are counted and reported (rate-limited).
        """
        notes: Counter[str] = Counter()
        by_route: dict[Route, list[LogEvent]] = {}
        for item in batch:
            try:
                record = item if type(item) is RecordView else view(item)
                route = self._router.route(record.resource)
                events = self._encoder.encode(record, now_ms, notes)
            except Exception:
                notes["invalid_record"] += 1
                continue
            bucket = by_route.get(route)
            if bucket is None:
                by_route[route] = events
            else:
                bucket.extend(events)
        dropped = Counter({k: v for k, v in notes.items() if k not in _MODIFIED})
        modified = Counter({k: v for k, v in notes.items() if k in _MODIFIED})
        events_made = sum(len(events) for events in by_route.values())
        self._count(records=len(batch), events=events_made, dropped=dropped, modified=modified)
        if modified:
            self._report.log(
                "modified",
                logging.WARNING,
                "records changed to fit CloudWatch: %s",
                _describe(modified),
            )
        if dropped:
            self._report_dropped(dropped)
            if self._sdk_metrics:
                for reason, count in dropped.items():
                    self._sdk_metrics.failed(count, reason)
        return by_route

    @guarded
    def deliver(
        self,
        route: Route,
        events: Sequence[LogEvent],
        now_ms: int,
        deadline: float,
        *,
        keep_retryable: bool = False,
        keep_failed: bool = False,
        possible_duplicates: bool = False,
        pace: Pace | None = None,
    ) -> tuple[bool, list[LogEvent]]:
        """Send one stream's events as valid requests: (none lost?, events to retry).

        Events CloudWatch would refuse are set aside first, and everything is counted. A
        request that failed for a passing cause (throttling, 5xx, the network) only because
        time ran out is dropped as ``undeliverable``, or, with ``keep_retryable``, handed back
        to the caller to send again later (not counted as dropped). With ``keep_failed``
        every failed request is handed back but one the service called invalid (a spool keeps
        them through an outage or expired credentials). ``possible_duplicates``: the events
        may have been delivered before (a spool segment taken over from a process that died
        while sending it); the delivered ones are counted as possible duplicates. Every
        attempt waits for ``pace``, when given.
        """
        protect_root_handlers()
        started = self._sdk_metrics.start(len(events)) if self._sdk_metrics else 0.0
        plan = plan_requests(events, now_ms, retention_days=self._edge.known_retention(route.group))
        dropped = plan.dropped
        causes: Counter[str] = Counter(plan.dropped)
        delivered = requests = failed = duplicates = entity_rejected = 0
        retry: list[LogEvent] = []
        for request in plan.requests:
            try:
                result = self._edge.put(route, request, deadline, pace)
            except DeliveryError as exc:
                failed += 1
                causes[exc.code] += len(request)
                if (keep_retryable and exc.retryable) or (keep_failed and not exc.invalid):
                    retry.extend(request)
                    duplicates += len(request) if exc.maybe_sent else 0
                else:
                    dropped["undeliverable"] += len(request)
                self._report_failure(route, exc, len(request))
                continue
            requests += 1
            delivered += result.delivered
            duplicates += result.delivered if possible_duplicates else result.possible_duplicates
            dropped.update(result.rejected)
            causes.update(result.rejected)
            if result.entity_rejected:
                entity_rejected += 1
                self._report.log(
                    "entity",
                    logging.WARNING,
                    "CloudWatch refused the entity of log group %s (%s); the events were kept",
                    route.group,
                    result.entity_rejected,
                )
        self._count(
            delivered=delivered,
            requests=requests,
            failed=failed,
            dropped=dropped,
            duplicates=duplicates,
            entity_rejected=entity_rejected,
        )
        if dropped:
            self._report_dropped(dropped)
        if self._sdk_metrics:
            self._sdk_metrics.finish(started, len(events), delivered, causes)
        return not dropped["undeliverable"], retry

    def _count_dropped(self, reason: str, count: int) -> None:
        """Count records dropped without being looked at, and report it."""
        self._count(dropped=Counter({reason: count}))
        self._report_dropped(Counter({reason: count}))

    def _count(
        self,
        *,
        records: int = 0,
        events: int = 0,
        delivered: int = 0,
        requests: int = 0,
        failed: int = 0,
        dropped: Counter[str] | None = None,
        modified: Counter[str] | None = None,
        duplicates: int = 0,
        entity_rejected: int = 0,
    ) -> None:
        with self._stats_lock:
            self._possible_duplicates += duplicates
            self._entity_rejected += entity_rejected
            self._records += records
            self._events += events
            self._delivered += delivered
            self._requests += requests
            self._failed_requests += failed
            self._dropped.update(dropped or {})
            self._modified.update(modified or {})

    def _report_dropped(self, dropped: Counter[str]) -> None:
        self._report.log(
            "dropped",
            logging.WARNING,
            "events not delivered, by reason: %s",
            _describe(dropped),
        )

    def _report_failure(self, route: Route, exc: DeliveryError, count: int) -> None:
        hint = NOT_RETRYABLE_HINTS.get(exc.code, "retries did not succeed before the timeout")
        self._report.log(
            f"failure:{exc.code}",
            logging.ERROR,
            "could not deliver %d events to log group %s, stream %s: %s (%s): %s",
            count,
            route.group,
            route.stream,
            exc.code,
            hint,
            exc.detail,
        )

    def stats(self) -> ExporterStats:
        """A snapshot of the exporter's counters."""
        with self._stats_lock:
            return ExporterStats(
                records=self._records,
                events=self._events,
                delivered=self._delivered,
                requests=self._requests,
                failed_requests=self._failed_requests,
                retries=MappingProxyType(dict(self._edge.policy.retries)),
                dropped=MappingProxyType(dict(self._dropped)),
                modified=MappingProxyType(dict(self._modified)),
                possible_duplicates=self._possible_duplicates,
                entity_rejected=self._entity_rejected,
            )

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Nothing is buffered in the exporter: every export call sends before it returns."""
        return True

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Stop: wait up to ``timeout_millis`` for an export in flight, then close the client."""
        self._shutdown = True
        acquired = self._export_lock.acquire(timeout=max(timeout_millis, 0) / 1000)
        try:
            self._edge.close()
        finally:
            if acquired:
                self._export_lock.release()


def _describe(counts: Counter[str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(counts.items()))
