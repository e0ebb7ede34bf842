"""The SDK's self-observability metrics (otel.sdk.*), under the SDK's own switch."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

from .faultproxy import FaultProxy
from .test_processor import pipeline


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Data points by metric name."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def value(found: dict[str, list[Any]], name: str, error_type: str | None = None) -> float:
    return sum(p.value for p in found.get(name, []) if p.attributes.get("error.type") == error_type)


def make(
    endpoint: str, group: str, session: boto3.session.Session, meters: MeterProvider
) -> CloudWatchLogRecordProcessor:
    exporter = CloudWatchLogExporter(
        endpoint_url=endpoint,
        log_group_name=group,
        log_stream_name="s",
        session=session,
        meter_provider=meters,
    )
    return CloudWatchLogRecordProcessor(exporter, flush_on_sigterm=False, meter_provider=meters)


def test_processed_and_exported_records_by_the_conventions(
    monkeypatch: pytest.MonkeyPatch,
    reader: InMemoryMetricReader,
    moto_endpoint: str,
    group: str,
    session: boto3.session.Session,
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    processor = make(moto_endpoint, group, session, MeterProvider(metric_readers=[reader]))
    with pipeline(processor) as log:
        for i in range(100):
            log.info("record %d", i)
        assert processor.force_flush(10_000)
        found = points(reader)
    assert value(found, "otel.sdk.processor.log.processed") == 100
    assert value(found, "otel.sdk.exporter.log.exported") == 100
    assert value(found, "otel.sdk.processor.log.queue.capacity") == 262_144
    assert value(found, "otel.sdk.processor.log.queue.size") == 0
    assert value(found, "otel.sdk.exporter.log.inflight") == 0
    (duration,) = found["otel.sdk.exporter.operation.duration"]
    assert duration.count >= 1
    assert "error.type" not in duration.attributes
    processor_attributes = found["otel.sdk.processor.log.processed"][0].attributes
    assert processor_attributes["otel.component.type"] == "batching_log_processor"
    assert processor_attributes["otel.component.name"].startswith("batching_log_processor/")
    exporter_attributes = found["otel.sdk.exporter.log.exported"][0].attributes
    assert exporter_attributes["otel.component.type"] == "otel_cwlogs.CloudWatchLogExporter"
    data = reader.get_metrics_data()
    assert data is not None
    ours = {
        scope.scope.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        if any(m.name.startswith("otel.sdk.processor.log.") for m in scope.metrics)
    }
    assert ours == {"otel_cwlogs"}  # not the SDK's opentelemetry-sdk: docs/processor.md says so


def test_failures_carry_their_final_cause_and_drops_their_reason(
    monkeypatch: pytest.MonkeyPatch,
    reader: InMemoryMetricReader,
    proxy: FaultProxy,
    group: str,
    session: boto3.session.Session,
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    proxy.error("PutLogEvents", "AccessDeniedException", times=100)
    processor = make(proxy.url, group, session, MeterProvider(metric_readers=[reader]))
    with pipeline(processor) as log:
        for i in range(10):
            log.info("denied %d", i)
        assert not processor.force_flush(10_000)
    processor.on_emit(object())  # after shutdown
    found = points(reader)
    assert value(found, "otel.sdk.exporter.log.exported", "AccessDeniedException") == 10
    assert value(found, "otel.sdk.exporter.log.exported") == 0
    assert value(found, "otel.sdk.processor.log.processed", "already_shutdown") == 1
    (duration,) = found["otel.sdk.exporter.operation.duration"]
    assert duration.attributes["error.type"] == "AccessDeniedException"


def test_nothing_is_recorded_without_the_switch(
    reader: InMemoryMetricReader,
    moto_endpoint: str,
    group: str,
    session: boto3.session.Session,
) -> None:
    processor = make(moto_endpoint, group, session, MeterProvider(metric_readers=[reader]))
    with pipeline(processor) as log:
        log.info("one")
        assert processor.force_flush(10_000)
        found = points(reader)
    assert not [name for name in found if name.startswith("otel.sdk.")]
    assert value(found, "otel_cwlogs.processor.received") == 1
