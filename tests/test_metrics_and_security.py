from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, ConfigError

from .conftest import REGION, read_events
from .faultproxy import FaultProxy
from .records import sdk_items
from .test_processor import pipeline

ACCESS_KEY = "AKIAOTELCWLOGSTEST01"
SECRET_KEY = "SecretKeyValue/NeverLogged+0123456789abcd"
SESSION_TOKEN = "SessionTokenValueNeverLogged/0123456789=="
CONTENT = "CONTENT-MARKER-7f3a"


def metric_points(reader: InMemoryMetricReader) -> dict[tuple[str, tuple[Any, ...]], int]:
    points = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, tuple(sorted(point.attributes.items())))
                    points[key] = point.value
    return points


def test_counters_are_also_otel_metrics(
    session: boto3.session.Session, moto_endpoint: str, group: str
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="s",
        meter_provider=provider,
    )
    processor = CloudWatchLogRecordProcessor(exporter, meter_provider=provider)
    items = sdk_items(["a", "b", "old"])
    items[2].log_record.timestamp = time.time_ns() - 20 * 86_400 * 10**9
    exporter.export(items)
    points = metric_points(reader)
    assert points[("otel_cwlogs.exporter.records", ())] == 3
    assert points[("otel_cwlogs.exporter.delivered", ())] == 2
    assert points[("otel_cwlogs.exporter.dropped", (("reason", "too_old"),))] == 1
    assert points[("otel_cwlogs.processor.received", ())] == 0
    processor.shutdown()


def test_secrets_and_content_stay_out_of_logs_errors_and_shipped_records(
    proxy: FaultProxy,
    logs: Any,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=SESSION_TOKEN,
        region_name=REGION,
    )
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=proxy.url,
        log_group_name=group,
        log_stream_name="s",
        max_event_bytes=262_144,
    )
    processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=50)
    raised: list[str] = []
    with caplog.at_level(logging.DEBUG), pipeline(processor, "svc") as log:
        logging.getLogger().addHandler(log.handlers[0])  # the OTel handler sees botocore too
        try:
            log.info(CONTENT + " shipped")
            log.info(CONTENT + " cut " + "x" * 300_000)
            assert processor.force_flush(10_000)
            proxy.error("PutLogEvents", "AccessDeniedException", times=5)
            log.info(CONTENT + " refused")
            assert processor.force_flush(10_000) is False
        finally:
            logging.getLogger().removeHandler(log.handlers[0])
        try:
            CloudWatchLogExporter(session=session, tags={"k": SECRET_KEY + "!"})
        except ConfigError as exc:
            raised.append(str(exc))
    assert any(r.name.startswith("botocore") for r in caplog.records)  # it did log at DEBUG
    ours = [r for r in caplog.records if r.name == "otel_cwlogs"]
    assert ours
    for record in ours:
        text = record.getMessage() + (record.exc_text or "")
        for secret in (SECRET_KEY, SESSION_TOKEN, "Signature="):
            assert secret not in text
        if record.levelno > logging.DEBUG:
            assert CONTENT not in text
    assert raised
    for secret in (SESSION_TOKEN, ACCESS_KEY):
        assert secret not in raised[0]
    shipped = [e["message"] for e in read_events(logs, group, "s")]
    assert [json.loads(m)["body"][:30] for m in shipped] == [
        CONTENT + " shipped",
        (CONTENT + " cut " + "x" * 30)[:30],
    ]
    for message in shipped:
        for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
            assert secret not in message
