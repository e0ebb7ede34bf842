"""The worst days, injected through the proxy; every test ends with the accounting identity:
records emitted == events delivered (deduplicated) + everything counted as dropped."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

from .conftest import read_events
from .faultproxy import Chaos, FaultProxy
from .test_processor import pipeline

PUT = "PutLogEvents"
REPORTS: dict[str, dict[str, Any]] = {}

pytestmark = pytest.mark.slow


def setup(
    session: boto3.session.Session,
    proxy: FaultProxy,
    group: str,
    *,
    exporter_timeout_ms: float = 5000,
    **processor_args: Any,
) -> CloudWatchLogRecordProcessor:
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=proxy.url,
        log_group_name=group,
        log_stream_name="{service.name}",
        export_timeout_millis=exporter_timeout_ms,
        retention_in_days=7,
        tags={"team": "core"},
    )
    processor_args.setdefault("schedule_delay_millis", 50)
    processor_args.setdefault("requests_per_second", 0)
    return CloudWatchLogRecordProcessor(exporter, **processor_args)


def account(
    name: str,
    emitted: int,
    processor: CloudWatchLogRecordProcessor,
    logs: Any,
    group: str,
    streams: list[str],
) -> dict[str, Any]:
    """Check the identity; return the numbers (printed with -s, quoted in the notes)."""
    stats = processor.stats()
    exporter = stats.exporter
    assert exporter is not None
    assert stats.queued == 0
    bodies: list[str] = []
    for stream in streams:
        try:
            events = read_events(logs, group, stream)
        except logs.exceptions.ResourceNotFoundException:
            events = []
        bodies += [json.loads(e["message"])["body"] for e in events]
    unique = len(set(bodies))
    duplicates = len(bodies) - unique
    dropped = Counter(stats.dropped) + Counter(exporter.dropped)
    assert emitted == unique + sum(dropped.values()), (emitted, unique, dropped)
    assert duplicates <= exporter.possible_duplicates
    numbers = {
        "emitted": emitted,
        "delivered": unique,
        "duplicates": duplicates,
        "possible_duplicates": exporter.possible_duplicates,
        "dropped": dict(dropped),
        "retries": dict(exporter.retries),
    }
    REPORTS[name] = numbers
    print(f"\n{name}: {numbers}")
    return numbers


def emit(log: logging.Logger, count: int, prefix: str = "r") -> list[str]:
    lines = [f"{prefix}{i:06d}" for i in range(count)]
    for line in lines:
        log.info(line)
    return lines


def in_order(logs: Any, group: str, stream: str) -> list[str]:
    return [json.loads(e["message"])["body"] for e in read_events(logs, group, stream)]


def test_throttling_and_server_errors(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    proxy.chaos(PUT, Chaos(throttle=0.3, server_error=0.1))
    processor = setup(session, proxy, group, max_export_batch_size=500)
    with pipeline(processor, "svc") as log:
        lines = emit(log, 20_000)
        assert processor.force_flush(60_000)
    numbers = account("throttling 30% + 5xx 10%", 20_000, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 20_000
    assert numbers["duplicates"] == 0
    assert in_order(logs, group, "svc") == lines
    assert proxy.injected["throttle"] > 0
    assert proxy.injected["server_error"] > 0


def test_connection_resets(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    proxy.chaos(PUT, Chaos(reset=0.05, reset_after=0.05))
    processor = setup(session, proxy, group, max_export_batch_size=200)
    with pipeline(processor, "svc") as log:
        emit(log, 10_000)
        assert processor.force_flush(60_000)
    numbers = account("connection resets 5% + 5% after", 10_000, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 10_000
    assert proxy.injected["reset"] > 0
    assert proxy.injected["reset_after"] > 0
    # a reset after the service took the batch hides its success: only those may repeat
    assert numbers["duplicates"] <= proxy.injected["reset_after"] * 200


def test_slow_responses_past_the_client_timeout(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    proxy.chaos(PUT, Chaos(slow=0.2, slow_s=1.2))
    processor = setup(session, proxy, group, exporter_timeout_ms=1000, max_export_batch_size=500)
    with pipeline(processor, "svc") as log:
        emit(log, 3000)
        assert processor.force_flush(60_000)
    numbers = account("slow responses", 3000, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 3000


def test_endpoint_down_then_back_loses_nothing_within_the_bound(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    processor = setup(session, proxy, group, exporter_timeout_ms=300, export_timeout_millis=300)
    with pipeline(processor, "svc") as log:
        emit(log, 100, "before")
        assert processor.force_flush(10_000)
        proxy.down()
        emit(log, 2000, "during")
        time.sleep(1.5)  # the outage lasts this long
        assert processor.stats().queued > 0
        proxy.up()
        emit(log, 100, "after")
        assert processor.force_flush(30_000)
    numbers = account("endpoint down 1.5 s", 2200, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 2200
    assert numbers["dropped"] == {}


def test_endpoint_down_past_the_bound_counts_every_drop(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    processor = setup(
        session,
        proxy,
        group,
        exporter_timeout_ms=300,
        export_timeout_millis=300,
        max_queue_size=500,
        max_export_batch_size=100,
    )
    with pipeline(processor, "svc") as log:
        proxy.down()
        emit(log, 2000)
        proxy.up()
        assert processor.force_flush(30_000)
    numbers = account("endpoint down past the bound", 2000, processor, logs, group, ["svc"])
    # 500 waiting, and the request of 100 being sent if it left before the burst ended (as a
    # batch being exported by the stock processor, it no longer counts against the bound)
    assert 500 <= numbers["delivered"] <= 600
    assert numbers["dropped"] == {"queue_full": 2000 - numbers["delivered"]}


def test_log_group_deleted_mid_run_is_recreated(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    processor = setup(session, proxy, group)
    with pipeline(processor, "svc") as log:
        emit(log, 100, "first")
        assert processor.force_flush(10_000)
        logs.delete_log_group(logGroupName=group)
        emit(log, 100, "second")
        assert processor.force_flush(10_000)
    (info,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert info["retentionInDays"] == 7
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"team": "core"}
    # the first hundred went with the deleted group; the identity is over what came after
    numbers = account("group deleted mid-run", 200 - 100, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 100
    assert numbers["dropped"] == {}
    assert proxy.hits["CreateLogGroup"] == 2


def test_endpoint_that_enforces_sequence_tokens(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    proxy.enforce_tokens = True
    proxy.chaos(PUT, Chaos(reset_after=0.15))
    processor = setup(session, proxy, group, max_export_batch_size=100)
    with pipeline(processor, "svc") as log:
        emit(log, 3000)
        assert processor.force_flush(30_000)
    numbers = account("sequence tokens enforced", 3000, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 3000
    assert numbers["duplicates"] == 0
    assert proxy.injected["data_already_accepted"] > 0


def test_rejected_events_are_counted_by_reason(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    info = {
        "tooOldLogEventEndIndex": 1,
        "expiredLogEventEndIndex": 2,
        "tooNewLogEventStartIndex": 4,
    }
    proxy.respond(PUT, {"rejectedLogEventsInfo": info})
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="svc")
    processor = setup(session, proxy, group, schedule_delay_millis=5000)
    with pipeline(processor, "svc") as log:
        emit(log, 5)
        assert processor.force_flush(10_000)
        emit(log, 3, "later")
        assert processor.force_flush(10_000)
    # the proxy answered the first request for the service without storing it: the two events
    # it "accepted" exist nowhere to read back, so the identity is over the other six
    numbers = account("rejectedLogEventsInfo", 8 - 2, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 3
    assert numbers["dropped"] == {
        "rejected_too_old": 1,
        "rejected_expired": 1,
        "rejected_too_new": 1,
    }


@pytest.mark.parametrize("code", ["UnrecognizedClientException", "AccessDeniedException"])
def test_bad_credentials_keep_the_app_running(
    session: boto3.session.Session,
    proxy: FaultProxy,
    logs: Any,
    group: str,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy.error(PUT, code, times=10**6)
    proxy.error("CreateLogStream", code, times=10**6)
    processor = setup(session, proxy, group, max_export_batch_size=100)
    with caplog.at_level(logging.ERROR, logger="otel_cwlogs"), pipeline(processor, "svc") as log:
        emit(log, 1000)
        assert processor.force_flush(10_000) is False
    numbers = account(code, 1000, processor, logs, group, ["svc"])
    assert numbers["dropped"] == {"undeliverable": 1000}
    ours = [r for r in caplog.records if r.name == "otel_cwlogs" and r.levelno == logging.ERROR]
    assert len(ours) == 1
    assert code in ours[0].getMessage()


def test_shutdown_never_hangs_with_the_endpoint_down(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    processor = setup(session, proxy, group, exporter_timeout_ms=500, shutdown_timeout_millis=500)
    proxy.down()
    with pipeline(processor, "svc") as log:
        emit(log, 300)
        started = time.monotonic()
        processor.shutdown()
        assert time.monotonic() - started < 2.0
    proxy.up()
    numbers = account("shutdown with the endpoint down", 300, processor, logs, group, ["svc"])
    assert numbers["delivered"] == 0
    assert sum(numbers["dropped"].values()) == 300


def test_missing_credentials_keep_the_app_running(
    proxy: FaultProxy,
    logs: Any,
    group: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    processor = setup(boto3.session.Session(), proxy, group, max_export_batch_size=100)
    with caplog.at_level(logging.ERROR, logger="otel_cwlogs"), pipeline(processor, "svc") as log:
        emit(log, 500)
        assert processor.force_flush(10_000) is False
    numbers = account("credentials missing", 500, processor, logs, group, ["svc"])
    assert numbers["dropped"] == {"undeliverable": 500}
    ours = [r for r in caplog.records if r.name == "otel_cwlogs" and r.levelno == logging.ERROR]
    assert len(ours) == 1
    assert "no AWS credentials were found" in ours[0].getMessage()
