"""PutLogEvents error handling, over HTTP through the fault-injecting proxy."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_cwlogs import CloudWatchLogExporter
from otel_cwlogs._sdk import ExportResult
from otel_cwlogs.client import events_json
from otel_cwlogs.events import make_event

from .conftest import read_events
from .faultproxy import FaultProxy
from .limits import Recorder
from .records import sdk_items

PUT = "PutLogEvents"


@pytest.fixture
def exporter(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> CloudWatchLogExporter:
    """An exporter to an existing group and stream, through the proxy."""
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    return CloudWatchLogExporter(
        session=session, endpoint_url=proxy.url, log_group_name=group, log_stream_name="s"
    )


def bodies(logs: Any, group: str) -> list[str]:
    return [json.loads(e["message"])["body"] for e in read_events(logs, group, "s")]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("ServiceUnavailableException", 503),
        ("InternalFailure", 500),
        ("SomethingNew", 502),
    ],
)
def test_retryable_errors_are_retried_until_delivered(
    exporter: CloudWatchLogExporter,
    proxy: FaultProxy,
    logs: Any,
    group: str,
    code: str,
    status: int,
) -> None:
    proxy.error(PUT, code, status=status, times=3)
    assert exporter.export(sdk_items(["a", "b"])) == ExportResult.SUCCESS
    assert bodies(logs, group) == ["a", "b"]
    assert proxy.hits[PUT] == 4
    assert exporter.stats().retries == {code: 3}
    assert exporter.stats().delivered == 2


def test_dropped_connections_are_retried(
    exporter: CloudWatchLogExporter, proxy: FaultProxy, logs: Any, group: str
) -> None:
    proxy.reset(PUT, times=2)
    assert exporter.export(sdk_items(["a"])) == ExportResult.SUCCESS
    assert bodies(logs, group) == ["a"]
    assert sum(exporter.stats().retries.values()) == 2


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "UnrecognizedClientException", "InvalidParameterException"]
)
def test_non_retryable_errors_fail_the_batch_once_and_clearly(
    exporter: CloudWatchLogExporter,
    proxy: FaultProxy,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy.error(PUT, code, times=5)
    with caplog.at_level(logging.ERROR, logger="otel_cwlogs"):
        assert exporter.export(sdk_items(["a", "b"])) == ExportResult.FAILURE
        assert exporter.export(sdk_items(["c"])) == ExportResult.FAILURE
    assert proxy.hits[PUT] == 2
    assert exporter.stats().dropped == {"undeliverable": 3}
    assert exporter.stats().failed_requests == 2
    ours = [r for r in caplog.records if r.name == "otel_cwlogs"]
    assert len(ours) == 1  # rate-limited: one line for a repeated cause
    assert code in ours[0].getMessage()


def test_retries_stop_at_the_export_timeout(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=proxy.url,
        log_group_name=group,
        log_stream_name="s",
        export_timeout_millis=400,
    )
    proxy.error(PUT, "ThrottlingException", times=10_000)
    started = time.monotonic()
    assert exporter.export(sdk_items(["a"])) == ExportResult.FAILURE
    assert time.monotonic() - started < 2.0
    assert exporter.stats().dropped == {"undeliverable": 1}


def test_invalid_sequence_token_is_retried_with_the_expected_token(
    exporter: CloudWatchLogExporter,
    proxy: FaultProxy,
    recorder: Recorder,
    logs: Any,
    group: str,
) -> None:
    proxy.error(PUT, "InvalidSequenceTokenException", expectedSequenceToken="49600000042")
    assert exporter.export(sdk_items(["a"])) == ExportResult.SUCCESS
    assert [r.get("sequenceToken") for r in recorder.requests] == [None, "49600000042"]
    assert bodies(logs, group) == ["a"]


def test_next_sequence_token_is_sent_with_the_following_request(
    exporter: CloudWatchLogExporter, proxy: FaultProxy, recorder: Recorder
) -> None:
    proxy.respond(PUT, {"nextSequenceToken": "token-2"})
    assert exporter.export(sdk_items(["a"])) == ExportResult.SUCCESS
    assert exporter.export(sdk_items(["b"])) == ExportResult.SUCCESS
    assert [r.get("sequenceToken") for r in recorder.requests] == [None, "token-2"]


def test_data_already_accepted_counts_as_delivered(
    exporter: CloudWatchLogExporter, proxy: FaultProxy
) -> None:
    proxy.error(PUT, "DataAlreadyAcceptedException", expectedSequenceToken="7")
    assert exporter.export(sdk_items(["a", "b"])) == ExportResult.SUCCESS
    assert proxy.hits[PUT] == 1
    assert exporter.stats().delivered == 2


def test_rejected_events_are_counted_by_reason_and_the_rest_delivered(
    exporter: CloudWatchLogExporter, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    info = {
        "tooOldLogEventEndIndex": 1,
        "expiredLogEventEndIndex": 2,
        "tooNewLogEventStartIndex": 4,
    }
    proxy.respond(PUT, {"rejectedLogEventsInfo": info})
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"):
        assert exporter.export(sdk_items(["a", "b", "c", "d", "e"])) == ExportResult.SUCCESS
    stats = exporter.stats()
    assert stats.delivered == 2
    assert stats.dropped == {"rejected_too_old": 1, "rejected_expired": 1, "rejected_too_new": 1}
    assert "rejected_too_new=1" in caplog.text


def test_deleted_group_is_recreated_and_the_batch_resent(
    exporter: CloudWatchLogExporter, proxy: FaultProxy, logs: Any, group: str
) -> None:
    assert exporter.export(sdk_items(["before"])) == ExportResult.SUCCESS
    logs.delete_log_group(logGroupName=group)
    assert exporter.export(sdk_items(["after"])) == ExportResult.SUCCESS
    assert bodies(logs, group) == ["after"]
    assert proxy.hits["CreateLogGroup"] == 1
    assert proxy.hits["CreateLogStream"] == 2  # refused for the missing group, then made
    assert proxy.hits["DescribeLogStreams"] == 0


def test_throttled_stream_creation_is_retried(
    session: boto3.session.Session, proxy: FaultProxy, logs: Any, group: str
) -> None:
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=proxy.url, log_group_name=group, log_stream_name="s"
    )
    proxy.error("CreateLogStream", "ThrottlingException", times=2)
    proxy.error("CreateLogGroup", "OperationAbortedException")
    assert exporter.export(sdk_items(["a"])) == ExportResult.SUCCESS
    assert bodies(logs, group) == ["a"]


def test_already_existing_stream_counts_as_created(
    exporter: CloudWatchLogExporter, proxy: FaultProxy, logs: Any, group: str
) -> None:
    proxy.error(PUT, "ResourceNotFoundException")  # as if the stream were missing: it is not
    assert exporter.export(sdk_items(["a"])) == ExportResult.SUCCESS
    assert proxy.hits["CreateLogStream"] == 1  # answered ResourceAlreadyExistsException
    assert bodies(logs, group) == ["a"]


@given(
    messages=st.lists(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40), max_size=8
    )
)
@settings(max_examples=300, deadline=None)
def test_events_json_is_what_json_dumps_writes(messages: list[str]) -> None:
    """The request body's events, written without a JSON pass over each message, are
    byte for byte what ``json.dumps`` writes: quotes, backslashes, control characters."""
    events = [make_event(1_800_000_000_000 + i, message) for i, message in enumerate(messages)]
    expected = json.dumps(
        [{"timestamp": timestamp, "message": message} for timestamp, message, _ in events],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert b"[" + events_json(events) + b"]" == expected.encode("utf-8")
