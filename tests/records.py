"""Building log records for tests: pure views, and real SDK batch items of either shape."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_cwlogs._sdk import ExporterBase, ExportResult, RecordView

BASE = RecordView(
    timestamp=1_700_000_000_123_456_789,
    observed_timestamp=1_700_000_001_000_000_000,
    trace_id=0,
    span_id=0,
    trace_flags=0,
    severity_text=None,
    severity_number=None,
    body="hello",
    attributes={},
    dropped_attributes=0,
    resource=None,
    scope=None,
)


def record(**changes: Any) -> RecordView:
    """A record view; ``resource_attributes`` and ``scope`` (name, version, attributes) may
    be given as plain values."""
    if "resource_attributes" in changes:
        changes["resource"] = Resource(changes.pop("resource_attributes"))
    if "scope" in changes:
        changes["scope"] = InstrumentationScope(*changes["scope"])
    return BASE._replace(**changes)


class Capture(ExporterBase):
    """Keeps the batch items the SDK hands an exporter, whatever their shape."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def export(self, batch: Sequence[Any]) -> ExportResult:
        self.items.extend(batch)
        return ExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        pass

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return True


def sdk_items(
    messages: Sequence[Any], resource: dict[str, Any] | None = None, name: str = "app"
) -> list[Any]:
    """Real batch items (LogData or ReadableLogRecord) from logging calls through the SDK."""
    provider = LoggerProvider(resource=Resource.create(resource or {"service.name": "svc"}))
    capture = Capture()
    provider.add_log_record_processor(SimpleLogRecordProcessor(capture))
    logger = logging.getLogger(f"tests.records.{name}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger.addHandler(handler)
    try:
        for message in messages:
            logger.info(message)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()
    return capture.items
