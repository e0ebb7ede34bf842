"""``CloudWatchLogExporter``: the OpenTelemetry-facing shell over events, batching and the edge."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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
from .capture import record_view
from .client import DeliveryError, LogsEdge, RetryPolicy, make_client
from .config import ExporterConfig, env_name, ignoring_invalid_variables
from .credentials import assumed_role_session, base_session
from .events import EventEncoder, LogEvent, Selection
from .routing import ROUTED_TO_DEFAULT, Route, Router

NOT_RETRYABLE_HINTS = {
    "AccessDeniedException": "the credentials lack an IAM permission (logs:PutLogEvents, "
    "logs:CreateLogStream, logs:CreateLogGroup, logs:PutRetentionPolicy)",
    "UnrecognizedClientException": "the AWS access key id or secret key is not valid",
    "InvalidSignatureException": "the AWS secret key does not match the access key id",
    "ExpiredTokenException": "the AWS session token has expired",
    "ExpiredToken": "the AWS session token has expired",
    "CredentialRetrievalError": "the AWS credentials could not be fetched",
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
    ``repaired`` (invalid text), ``truncated``, ``split`` or ``depth_limited``, and those
    ``routed_to_default``: sent to the default log group or stream, as the names their
    attributes gave could not be used (see :mod:`otel_cwlogs.routing`).
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
    """Copies CloudWatch may hold beyond the events delivered: for each event delivered
    after attempts whose response was lost (or taken over from a spool segment that may have
    been delivered), one per such attempt. An upper bound of the duplicates stored."""
    entity_rejected: int = 0
    """Requests whose entity CloudWatch refused (``rejectedEntityInfo``); not a drop."""

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


_MODIFIED = ("repaired", "truncated", "split", "depth_limited", ROUTED_TO_DEFAULT)


class CloudWatchLogExporter(ExporterBase):
    """Exports OpenTelemetry log records to CloudWatch Logs with PutLogEvents.

    Every argument may be left out; it is then read from ``OTEL_EXPORTER_CLOUDWATCH_LOGS_<NAME>``
    (e.g. ``..._LOG_GROUP_NAME``), else defaults apply. ``log_group_name`` and
    ``log_stream_name`` are templates over the resource's attributes, and the record's
    attributes and scope (see :mod:`otel_cwlogs.routing`).
    Pass a ready boto3 ``logs`` ``client``, or a boto3 ``session`` to make one from. TLS
    certificates are verified unless ``verify`` says otherwise (False, or a CA bundle path).
    The counters of :meth:`stats` are also OpenTelemetry metrics (``otel_cwlogs.exporter.*``)
    of ``meter_provider``, or of the global one.

    Credentials that change are picked up: when AWS refuses the key (a rotated key, an
    expired session token) or none is found, the credential chain is read again and the
    request retried, like an outage, for up to a minute; then it fails, reported with its
    cause (see :class:`~otel_cwlogs.client.LogsEdge`). The chain is the exporter's own when it
    makes it: the default chain, ``profile_name``, or ``role_arn`` (assumed again, also over a
    given ``session``). A given ``session`` without ``role_arn`` keeps the credentials it
    holds (botocore refreshes those that expire), and a given ``client`` is used as it is:
    with either, a refused key fails at once.
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

            def factory(attempt_timeout_s: float | None) -> Any:
                timeout_s = config.export_timeout_millis / 1000
                if attempt_timeout_s is not None:
                    timeout_s = min(timeout_s, attempt_timeout_s)
                aws = base_session(session, config.profile_name)
                if config.role_arn is not None:
                    aws = assumed_role_session(
                        aws, config.role_arn, config.role_session_name, config.external_id
                    )
                return make_client(
                    session=aws,
                    region_name=config.region_name,
                    endpoint_url=config.endpoint_url,
                    timeout_s=timeout_s,
                    verify=config.verify,
                    endpoint_setting="endpoint_url" if endpoint_url else env_name("endpoint_url"),
                    region_setting="region_name" if region_name else env_name("region_name"),
                )

            edge = LogsEdge(
                (lambda _: client) if client is not None else factory,
                owns_client=client is None,
                create_log_group=config.create_log_group,
                retention_in_days=config.retention_in_days,
                tags=config.tags,
                policy=RetryPolicy(),
                log_group_class=config.log_group_class,
                kms_key_id=config.kms_key_id,
                rereads_credentials=session is None or config.role_arn is not None,
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
        self._retries: Counter[str] = Counter()
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

    @property
    def edge(self) -> LogsEdge:
        """The AWS edge (the processor's delivery tries requests through it)."""
        return self._edge

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
                    ok = self.deliver(route, events, now_ms, deadline) and ok
                return ExportResult.SUCCESS if ok else ExportResult.FAILURE
        except Exception:
            self._report.log("export-error", logging.ERROR, "export failed", exc_info=True)
            return ExportResult.FAILURE

    def encode(self, batch: Sequence[Any], now_ms: int) -> dict[Route, list[LogEvent]]:
        """Route and encode batch items into events per stream, keeping their order; counted
        and reported (:meth:`encode_batch`, :meth:`count_encoded`, :meth:`report_encoded`)."""
        by_route, notes = self.encode_batch(batch, now_ms)
        self.count_encoded(len(batch), sum(len(events) for events in by_route.values()), notes)
        self.report_encoded(notes)
        return by_route

    def encode_batch(
        self, batch: Iterable[Any], now_ms: int
    ) -> tuple[dict[Route, list[LogEvent]], Counter[str]]:
        """Route and encode batch items into events per stream, keeping their order, and what
        happened on the way by reason (items that are not log records, records changed or
        dropped to fit CloudWatch). Counts nothing."""
        notes: Counter[str] = Counter()
        by_route: dict[Route, list[LogEvent]] = {}
        router = self._router
        by_record = router.by_record
        for item in batch:
            try:
                kind = type(item)
                if kind is RecordView:
                    record = item
                elif kind is tuple:  # what the handler captured (see .capture)
                    record = record_view(item)
                else:
                    record = view(item)
                if by_record:
                    route = router.route_record(record, notes)
                else:
                    route = router.route(record.resource)
                events = self._encoder.encode(record, now_ms, notes)
            except Exception:
                notes["invalid_record"] += 1
                continue
            bucket = by_route.get(route)
            if bucket is None:
                by_route[route] = events
            else:
                bucket.extend(events)
        return by_route, notes

    @staticmethod
    def dropped_in(notes: Counter[str]) -> int:
        """Records the encoder dropped, of the notes of :meth:`encode_batch`."""
        return sum(count for key, count in notes.items() if key not in _MODIFIED)

    def count_encoded(self, records: int, events: int, notes: Counter[str]) -> None:
        """Count ``records`` encoded into ``events``, with the notes of :meth:`encode_batch`."""
        dropped = Counter({k: v for k, v in notes.items() if k not in _MODIFIED})
        modified = Counter({k: v for k, v in notes.items() if k in _MODIFIED})
        self._count(records=records, events=events, dropped=dropped, modified=modified)
        if dropped and self._sdk_metrics:
            for reason, count in dropped.items():
                self._sdk_metrics.failed(count, reason)

    def report_encoded(self, notes: Counter[str]) -> None:
        """Say (rate-limited) what the encoder changed or dropped."""
        modified = Counter(
            {k: v for k, v in notes.items() if k in _MODIFIED and k != ROUTED_TO_DEFAULT}
        )
        dropped = Counter({k: v for k, v in notes.items() if k not in _MODIFIED})
        if notes[ROUTED_TO_DEFAULT]:
            self._report.tally(
                ROUTED_TO_DEFAULT,
                notes[ROUTED_TO_DEFAULT],
                logging.WARNING,
                "%d records sent to the default log group or stream (counted as modified: "
                "routed_to_default), as their names could not be made; the last: %s",
                self._router.unroutable,
            )
        if modified:
            self._report.log(
                "modified",
                logging.WARNING,
                "records changed to fit CloudWatch: %s",
                _describe(modified),
            )
        if dropped:
            self.report_dropped(dropped)

    @guarded
    def deliver(
        self, route: Route, events: Sequence[LogEvent], now_ms: int, deadline: float
    ) -> bool:
        """Send one stream's events as valid requests, each retried until the deadline;
        whether none was lost. Events CloudWatch would refuse are set aside first, and
        everything is counted."""
        protect_root_handlers()
        started = self.metrics_start(len(events))
        plan = plan_requests(events, now_ms, retention_days=self._edge.known_retention(route.group))
        dropped = plan.dropped
        causes: Counter[str] = Counter(plan.dropped)
        retried: Counter[str] = Counter()
        delivered = requests = failed = duplicates = entity_rejected = 0
        for request in plan.requests:
            try:
                result = self._edge.put(route, request, deadline, retried)
            except DeliveryError as exc:
                failed += 1
                causes[exc.code] += len(request)
                dropped["undeliverable"] += len(request)
                self.report_failure(route, exc, len(request))
                continue
            requests += 1
            delivered += result.delivered
            duplicates += result.possible_duplicates
            dropped.update(result.rejected)
            causes.update(result.rejected)
            if result.entity_rejected:
                entity_rejected += 1
                self.report_entity_rejected(route, result.entity_rejected)
        self._count(
            delivered=delivered,
            requests=requests,
            failed=failed,
            dropped=dropped,
            duplicates=duplicates,
            entity_rejected=entity_rejected,
            retries=retried,
        )
        if dropped:
            self.report_dropped(dropped)
        self.metrics_finish(started, len(events), delivered, causes)
        return not dropped["undeliverable"]

    def count_attempt(self, tally: Any) -> None:
        """Count one attempt of the processor's delivery (a :class:`.delivery.Tally`)."""
        self._count(
            delivered=tally.delivered,
            requests=tally.requests,
            failed=tally.failed,
            dropped=tally.dropped,
            duplicates=tally.duplicates,
            entity_rejected=tally.entity_rejected,
            retries=tally.retries,
        )

    def metrics_start(self, count: int) -> float:
        """The start of an export operation over ``count`` events, for the SDK's metrics."""
        return self._sdk_metrics.start(count) if self._sdk_metrics else 0.0

    def metrics_finish(
        self,
        started: float,
        count: int,
        exported: int,
        failed: Mapping[str, int],
        retried_for: str | None = None,
    ) -> None:
        """The end of an export operation (``retried_for``: the cause of one that failed and
        is to be tried again, whose records are not finished)."""
        if self._sdk_metrics:
            self._sdk_metrics.finish(started, count, exported, dict(failed), retried_for)

    def _count_dropped(self, reason: str, count: int) -> None:
        """Count records dropped without being looked at, and report it."""
        self._count(dropped=Counter({reason: count}))
        self.report_dropped(Counter({reason: count}))

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
        retries: Counter[str] | None = None,
    ) -> None:
        with self._stats_lock:
            self._retries.update(retries or {})
            self._possible_duplicates += duplicates
            self._entity_rejected += entity_rejected
            self._records += records
            self._events += events
            self._delivered += delivered
            self._requests += requests
            self._failed_requests += failed
            self._dropped.update(dropped or {})
            self._modified.update(modified or {})

    def report_dropped(self, dropped: Counter[str]) -> None:
        self._report.log(
            "dropped",
            logging.WARNING,
            "events not delivered, by reason: %s",
            _describe(dropped),
        )

    def report_failure(
        self,
        route: Route,
        exc: DeliveryError,
        count: int,
        hint: str = "retries did not succeed before the timeout",
    ) -> None:
        """Say (rate-limited, per cause) that ``count`` events could not be delivered: the cause
        when it is known, and for a passing failure what became of them."""
        cause = NOT_RETRYABLE_HINTS.get(exc.code)
        if cause is not None and exc.retryable:
            hint = f"{cause}; {hint}"
        elif cause is not None:
            hint = cause
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

    def report_entity_rejected(self, route: Route, error_type: str) -> None:
        self._report.log(
            "entity",
            logging.WARNING,
            "CloudWatch refused the entity of log group %s (%s); the events were kept",
            route.group,
            error_type,
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
                retries=MappingProxyType(dict(self._retries)),
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
