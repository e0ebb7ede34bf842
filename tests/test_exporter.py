from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest
from opentelemetry import context

from otel_cwlogs import CloudWatchLogExporter
from otel_cwlogs._sdk import ExporterBase, ExportResult, view
from otel_cwlogs.events import record_document

from .conftest import read_events, stream_names
from .limits import Recorder
from .records import sdk_items


def make(session: boto3.session.Session, endpoint: str, **kwargs: Any) -> CloudWatchLogExporter:
    return CloudWatchLogExporter(session=session, endpoint_url=endpoint, **kwargs)


def test_records_arrive_byte_for_byte(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    items = sdk_items(["first é", "second 日本", "third 😀"], {"service.name": "svc"})
    exporter = make(session, moto_endpoint, log_group_name=group, log_stream_name="s")
    assert exporter.export(items) == ExportResult.SUCCESS
    got = read_events(logs, group, "s")
    expected = [
        json.dumps(record_document(view(i)), ensure_ascii=False, separators=(",", ":"))
        for i in items
    ]
    assert [e["message"] for e in got] == expected
    assert [json.loads(e["message"])["body"] for e in got] == ["first é", "second 日本", "third 😀"]
    assert [e["timestamp"] for e in got] == [view(i).timestamp // 1_000_000 for i in items]
    assert len(recorder.requests) == 2  # the first found no stream, the second delivered
    stats = exporter.stats()
    assert (stats.records, stats.events, stats.delivered, stats.requests) == (3, 3, 3, 1)
    exporter.shutdown()


def test_body_format_sends_the_body_text(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    exporter = make(
        session, moto_endpoint, log_group_name=group, log_stream_name="s", message_format="body"
    )
    assert exporter.export(sdk_items(["plain line", "âutre"])) == ExportResult.SUCCESS
    assert [e["message"] for e in read_events(logs, group, "s")] == ["plain line", "âutre"]


def test_body_format_bodies_arrive_as_the_collectors_raw_log_writes_them(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    exporter = make(
        session, moto_endpoint, log_group_name=group, log_stream_name="s", message_format="body"
    )
    items = sdk_items([b"\x00\x01\x02hello\xff", None, "plain", 42, True])
    assert [item.log_record.body for item in items] == [
        b"\x00\x01\x02hello\xff",
        None,
        "plain",
        42,
        True,
    ]
    assert exporter.export(items) == ExportResult.SUCCESS
    stored = [e["message"] for e in read_events(logs, group, "s")]
    assert stored == ["AAECaGVsbG//", "plain", "42", "true"]
    assert exporter.stats().dropped == {"empty": 1}
    assert recorder.requests  # checked against the limits


def test_one_export_with_many_resources_routes_each_to_its_stream(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    items = sdk_items(["a1", "a2"], {"service.name": "alpha"}) + sdk_items(
        ["b1"], {"service.name": "beta"}
    )
    items.insert(1, items.pop())  # interleave the two resources
    exporter = make(
        session, moto_endpoint, log_group_name=group, log_stream_name="{service.name}-stream"
    )
    assert exporter.export(items) == ExportResult.SUCCESS
    assert sorted(stream_names(logs, group)) == ["alpha-stream", "beta-stream"]
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "alpha-stream")]
    assert bodies == ["a1", "a2"]
    beta = read_events(logs, group, "beta-stream")
    assert [json.loads(e["message"])["body"] for e in beta] == ["b1"]


def test_default_names_come_from_the_resource(
    session: boto3.session.Session, moto_endpoint: str, logs: Any
) -> None:
    service = f"svc-{time.time_ns()}"
    exporter = make(session, moto_endpoint)
    assert exporter.export(sdk_items(["x"], {"service.name": service})) == ExportResult.SUCCESS
    (stream,) = stream_names(logs, f"/otel/{service}")
    assert len(read_events(logs, f"/otel/{service}", stream)) == 1


def test_created_group_gets_retention_and_tags(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    exporter = make(
        session,
        moto_endpoint,
        log_group_name=group,
        log_stream_name="s",
        retention_in_days=7,
        tags={"team": "core"},
    )
    assert exporter.export(sdk_items(["x"])) == ExportResult.SUCCESS
    (info,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert info["retentionInDays"] == 7
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"team": "core"}


def test_existing_group_is_used_and_only_the_stream_is_created(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    logs.create_log_group(logGroupName=group)
    exporter = make(
        session, moto_endpoint, log_group_name=group, log_stream_name="s", create_log_group=False
    )
    assert exporter.export(sdk_items(["x"])) == ExportResult.SUCCESS
    assert len(read_events(logs, group, "s")) == 1


def test_missing_group_with_creation_off_fails_clearly(
    session: boto3.session.Session,
    moto_endpoint: str,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = make(
        session, moto_endpoint, log_group_name=group, log_stream_name="s", create_log_group=False
    )
    with caplog.at_level(logging.ERROR, logger="otel_cwlogs"):
        assert exporter.export(sdk_items(["x", "y"])) == ExportResult.FAILURE
    assert exporter.stats().dropped == {"undeliverable": 2}
    assert "create_log_group is off" in caplog.text
    assert "ResourceNotFoundException" in caplog.text
    assert group in caplog.text


def test_events_outside_the_time_window_are_set_aside_and_reported(
    session: boto3.session.Session,
    moto_endpoint: str,
    logs: Any,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    items = sdk_items(["old", "ok", "future"])
    now_ns = time.time_ns()
    shift = {"old": -15 * 86_400 * 10**9, "future": 3 * 3600 * 10**9, "ok": 0}
    for item in items:
        item.log_record.timestamp = now_ns + shift[item.log_record.body]
    exporter = make(session, moto_endpoint, log_group_name=group, log_stream_name="s")
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"):
        assert exporter.export(items) == ExportResult.SUCCESS
    assert [json.loads(e["message"])["body"] for e in read_events(logs, group, "s")] == ["ok"]
    assert exporter.stats().dropped == {"too_old": 1, "too_new": 1}
    assert caplog.text.count("events not delivered") == 1
    assert "too_new=1, too_old=1" in caplog.text


def test_bad_batch_items_never_raise(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    exporter = make(session, moto_endpoint, log_group_name=group, log_stream_name="s")
    batch = [object(), None, 42, *sdk_items(["good"])]
    assert exporter.export(batch) == ExportResult.SUCCESS
    assert exporter.stats().dropped == {"invalid_record": 3}
    assert len(read_events(logs, group, "s")) == 1


def test_export_after_shutdown_is_counted_not_raised(
    session: boto3.session.Session, moto_endpoint: str, group: str, recorder: Recorder
) -> None:
    exporter = make(session, moto_endpoint, log_group_name=group)
    exporter.shutdown()
    assert exporter.export(sdk_items(["late"])) == ExportResult.FAILURE
    assert exporter.stats().dropped == {"after_shutdown": 1}
    assert recorder.requests == []
    assert exporter.force_flush() is True


def test_aws_calls_run_with_instrumentation_suppressed(
    session: boto3.session.Session, moto_endpoint: str, group: str
) -> None:
    seen: list[Any] = []

    def hook(**_: Any) -> None:
        seen.append(
            (
                context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY),
                context.get_value("suppress_instrumentation"),
            )
        )

    session.events.register("before-send.cloudwatch-logs", hook)
    exporter = make(session, moto_endpoint, log_group_name=group, log_stream_name="s")
    assert exporter.export(sdk_items(["x"])) == ExportResult.SUCCESS
    assert len(seen) >= 3  # PutLogEvents, CreateLogStream, CreateLogGroup, ...
    assert set(seen) == {(True, True)}
    assert context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY) is None


def test_user_supplied_client_is_used_and_not_closed(
    moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    client = boto3.client("logs", region_name="us-east-1", endpoint_url=moto_endpoint)
    recorder.attach(client.meta.events)
    exporter = CloudWatchLogExporter(client=client, log_group_name=group, log_stream_name="s")
    assert exporter.export(sdk_items(["x"])) == ExportResult.SUCCESS
    exporter.shutdown()
    assert len(recorder.requests) == 2
    assert len(client.get_log_events(logGroupName=group, logStreamName="s")["events"]) == 1


def test_exporter_is_the_sdks_exporter_and_imports_without_deprecation_warnings() -> None:
    assert issubclass(CloudWatchLogExporter, ExporterBase)
    code = (
        "import warnings; warnings.simplefilter('error');"
        "import otel_cwlogs; e = otel_cwlogs.CloudWatchLogExporter(region_name='us-east-1');"
        "r = e.export([]); e.shutdown(timeout_millis=10.5); print(type(r).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() in ("LogRecordExportResult", "LogExportResult")
    assert out.stderr == ""


def test_what_each_event_carries_is_chosen_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    session: boto3.session.Session,
    moto_endpoint: str,
    logs: Any,
    group: str,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_EVENT_RESOURCE_ATTRIBUTES", "service.name")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_EVENT_CODE_ATTRIBUTES", "false")
    exporter = make(session, moto_endpoint, log_group_name=group, log_stream_name="s")
    items = sdk_items(["lean"], {"service.name": "shop", "deployment.environment": "prod"})
    assert exporter.export(items) == ExportResult.SUCCESS
    (event,) = read_events(logs, group, "s")
    doc = json.loads(event["message"])
    assert doc["resource"] == {"service.name": "shop"}
    assert not [k for k in doc.get("attributes", {}) if k.startswith("code.")]
