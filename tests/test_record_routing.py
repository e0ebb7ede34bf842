"""Routing by the record: names from a record's attributes and scope, end to end."""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import otel_cwlogs
from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor
from otel_cwlogs._sdk import handler_rules
from otel_cwlogs.routing import ROUTED_TO_DEFAULT

from .conftest import read_events
from .faultproxy import FaultProxy
from .limits import Recorder


@contextmanager
def provider_of(processor: Any, service: str = "svc") -> Iterator[LoggerProvider]:
    """A logger provider with ``processor``, shut down after."""
    provider = LoggerProvider(
        resource=Resource.create({"service.name": service}), shutdown_on_exit=False
    )
    provider.add_log_record_processor(processor)
    try:
        yield provider
    finally:
        provider.shutdown()


@contextmanager
def logger_of(
    provider: LoggerProvider, name: str | None = None, handler_class: Any = LoggingHandler
) -> Iterator[logging.Logger]:
    """A logger whose records go to ``provider`` (through the SDK's handler by default)."""
    logger = logging.getLogger(name or f"tests.routing.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = handler_class(logger_provider=provider)
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)


def all_streams(logs: Any, group: str) -> list[str]:
    pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=group)
    return sorted(s["logStreamName"] for page in pages for s in page["logStreams"])


def bodies(logs: Any, group: str, stream: str) -> list[str]:
    return [json.loads(e["message"])["body"] for e in read_events(logs, group, stream)]


def identity_holds(processor: CloudWatchLogRecordProcessor, records: int) -> None:
    stats = processor.stats()
    assert stats.exporter is not None
    assert stats.received == records
    assert stats.exporter.delivered == records
    assert stats.dropped_total == 0
    assert stats.received + stats.unspooled == (
        stats.exporter.delivered + stats.dropped_total + stats.spooled
    )


@pytest.mark.parametrize(
    "handler_class", [LoggingHandler, otel_cwlogs.LoggingHandler], ids=["sdk", "fast"]
)
def test_a_hundred_tenants_each_in_its_own_stream_in_order(
    session: boto3.session.Session,
    moto_endpoint: str,
    logs: Any,
    group: str,
    recorder: Recorder,
    handler_class: Any,
) -> None:
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="{attributes.tenant}",
    )
    processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=200)
    rng = random.Random(3)
    tenants = [rng.randrange(100) for _ in range(5000)]
    with provider_of(processor) as provider, logger_of(provider, None, handler_class) as log:
        for i, tenant in enumerate(tenants):
            log.info("record %05d", i, extra={"tenant": f"t{tenant}"})
        assert processor.force_flush(60_000)
        identity_holds(processor, len(tenants))
    assert all_streams(logs, group) == sorted(f"t{n}" for n in range(100))
    for n in range(100):
        expected = [f"record {i:05d}" for i, tenant in enumerate(tenants) if tenant == n]
        assert bodies(logs, group, f"t{n}") == expected
    assert len(recorder.requests) >= 100


@pytest.mark.slow
def test_a_thousand_new_streams_in_a_burst_lose_nothing_to_the_create_quota(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str, recorder: Recorder
) -> None:
    proxy.throttle_above("CreateLogStream", 50)
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=proxy.url,
        log_group_name=group,
        log_stream_name="{attributes.tenant}",
    )
    processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=100)
    with provider_of(processor) as provider, logger_of(provider) as log:
        for n in range(1000):
            log.info("first of %d", n, extra={"tenant": f"t{n:04d}"})
        for n in range(1000):
            log.info("second of %d", n, extra={"tenant": f"t{n:04d}"})
        assert processor.force_flush(120_000)
        identity_holds(processor, 2000)
    names = all_streams(logs, group)
    assert names == [f"t{n:04d}" for n in range(1000)]
    for n in range(0, 1000, 37):
        assert bodies(logs, group, f"t{n:04d}") == [f"first of {n}", f"second of {n}"]
    made = proxy.forwarded_at["CreateLogStream"]
    assert len(made) >= 1000  # and again for those that came before their group was made
    arrived = proxy.arrivals["CreateLogStream"]
    assert (len(arrived) - 1) / (arrived[-1] - arrived[0]) <= 50
    # paced below the quota: a throttled call now and then (a call made late, then one on
    # time) is retried, and costs time only
    assert proxy.injected["over_operation_rate"] <= 20


def test_the_exporter_alone_routes_each_record(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group + "/{attributes.team}",
        log_stream_name="{attributes.tenant}",
    )
    processor = BatchLogRecordProcessor(exporter, schedule_delay_millis=100)
    with provider_of(processor) as provider, logger_of(provider) as log:
        for i in range(60):
            log.info("r%d", i, extra={"tenant": f"t{i % 3}", "team": ["a", "b"][i % 2]})
        provider.force_flush(30_000)  # (the stock processor of SDK 1.33 answers None)
    for team in ("a", "b"):
        assert all_streams(logs, f"{group}/{team}") == ["t0", "t1", "t2"]
        for tenant in range(3):
            expected = [f"r{i}" for i in range(60) if i % 3 == tenant and "ab"[i % 2] == team]
            assert bodies(logs, f"{group}/{team}", f"t{tenant}") == expected
    assert exporter.stats().delivered == 60


def test_the_loggers_name_picks_the_stream(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="{scope.name}",
    )
    processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=100)
    prefix = f"tests.scope.{uuid.uuid4().hex[:8]}"
    with provider_of(processor) as provider:
        with (
            logger_of(provider, f"{prefix}.billing") as billing,
            logger_of(provider, f"{prefix}.auth") as auth,
        ):
            for i in range(10):
                (billing if i % 2 else auth).info("m%d", i)
        assert processor.force_flush(30_000)
        identity_holds(processor, 10)
    rules = handler_rules()
    assert rules is not None
    if not rules.scope_per_logger:  # the SDK's handler gives every record its own scope
        (stream,) = all_streams(logs, group)
        assert stream == "opentelemetry.sdk._logs._internal"
        assert bodies(logs, group, stream) == [f"m{i}" for i in range(10)]
        return
    assert all_streams(logs, group) == [f"{prefix}.auth", f"{prefix}.billing"]
    assert bodies(logs, group, f"{prefix}.billing") == ["m1", "m3", "m5", "m7", "m9"]
    assert bodies(logs, group, f"{prefix}.auth") == ["m0", "m2", "m4", "m6", "m8"]


def test_a_record_whose_name_cannot_be_made_goes_to_the_default_counted_and_said_once(
    session: boto3.session.Session,
    moto_endpoint: str,
    logs: Any,
    group: str,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="{attributes.tenant}",
    )
    processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=100)
    resource = Resource.create({"service.name": "svc"})
    default = exporter._router.default(resource)
    assert default is not None
    caplog.set_level(logging.WARNING, logger="otel_cwlogs")
    with provider_of(processor) as provider, logger_of(provider) as log:
        log.info("fine", extra={"tenant": "t1"})
        log.info("empty", extra={"tenant": ""})
        log.info("long", extra={"tenant": "x" * 600})
        assert processor.force_flush(30_000)
        identity_holds(processor, 3)
        assert processor.stats().exporter.modified == {ROUTED_TO_DEFAULT: 2}  # type: ignore[union-attr]
    assert all_streams(logs, group) == sorted(["t1", default.stream])
    assert bodies(logs, group, default.stream) == ["empty", "long"]
    said = [r.getMessage() for r in caplog.records if ROUTED_TO_DEFAULT in r.getMessage()]
    assert len(said) == 1
    assert "log_stream_name '{attributes.tenant}'" in said[0]
    assert default.stream in said[0]


def test_groups_the_template_makes_get_the_configured_options(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    sent: list[dict[str, Any]] = []
    session.events.register(
        "provide-client-params.cloudwatch-logs.CreateLogGroup",
        lambda params, **_: sent.append(dict(params)),
    )
    key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-000000000002"
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group + "/{attributes.tenant}",
        log_stream_name="s",
        retention_in_days=7,
        tags={"team": "core"},
        log_group_class="standard",
        kms_key_id=key,
    )
    processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=100)
    with provider_of(processor) as provider, logger_of(provider) as log:
        for tenant in ("a", "b"):
            log.info("hello %s", tenant, extra={"tenant": tenant})
        assert processor.force_flush(30_000)
        identity_holds(processor, 2)
    for tenant in ("a", "b"):
        name = f"{group}/{tenant}"
        expected = {
            "logGroupName": name,
            "logGroupClass": "STANDARD",
            "kmsKeyId": key,
            "tags": {"team": "core"},
        }
        assert expected in sent
        (info,) = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        assert info["retentionInDays"] == 7
        assert info["kmsKeyId"] == key
        assert logs.list_tags_log_group(logGroupName=name)["tags"] == {"team": "core"}
        assert bodies(logs, name, "s") == [f"hello {tenant}"]


def test_the_variables_take_the_record_placeholders(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME", "/app/{resource.service.name}"
    )
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "{attributes.tenant}")
    exporter = CloudWatchLogExporter(endpoint_url="http://127.0.0.1:9")
    assert exporter._router.examples(Resource({"service.name": "api"})) == (
        "/app/api",
        "<attributes.tenant>",
    )
    exporter.shutdown()
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "{scope.bogus}")
    exporter = CloudWatchLogExporter(endpoint_url="http://127.0.0.1:9")
    assert not exporter._router.by_record
    assert "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME='{scope.bogus}' is invalid" in caplog.text
    assert "unknown placeholder {scope.bogus}" in caplog.text
    exporter.shutdown()
