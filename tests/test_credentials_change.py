"""Credentials that change while the exporter runs: a shared credentials file rewritten with
a new key, an STS outage while the role is assumed, and a key that stays refused. The proxy
refuses keys as AWS does (the emulator checks no signature)."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor
from otel_cwlogs._sdk import ExportResult

from .conftest import keys_for, wait_until
from .faultproxy import FaultProxy
from .limits import Recorder
from .records import sdk_items
from .test_faults import emit, in_order
from .test_processor import pipeline

pytestmark = pytest.mark.slow  # the AWS edge's credentials: SDK-independent

PUT = "PutLogEvents"
OLD_KEY = "AKIAROTATEDOLDKEY001"
NEW_KEY = "AKIAROTATEDNEWKEY002"
ROLE = "arn:aws:iam::123456789012:role/log-writer"

REFUSALS = {
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "ExpiredTokenException": "The security token included in the request is expired",
    "InvalidSignatureException": "The request signature we calculated does not match the "
    "signature you provided. Check your AWS Secret Access Key and signing method.",
}


@pytest.fixture
def credentials_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, logs: Any) -> Path:
    """The shared credentials file, the only credentials there are (``logs``, for reading
    back, is made before, with the dummy ones)."""
    path = tmp_path / "credentials"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    return path


def write_credentials(path: Path, key: str) -> None:
    """Write the file as a secrets agent does: a new file renamed over the old one."""
    new = path.with_suffix(".new")
    new.write_text(
        f"[default]\naws_access_key_id = {key}\naws_secret_access_key = secret-of-{key}\n"
        f"aws_session_token = token-of-{key}\n"
    )
    os.replace(new, path)


def processor_for(exporter: CloudWatchLogExporter) -> CloudWatchLogRecordProcessor:
    return CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=50, requests_per_second=0)


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_a_credentials_file_rewritten_mid_run_loses_nothing(
    credentials_file: Path,
    recorded: tuple[FaultProxy, Recorder],
    logs: Any,
    group: str,
    code: str,
) -> None:
    proxy, recorder = recorded
    write_credentials(credentials_file, OLD_KEY)
    exporter = CloudWatchLogExporter(
        endpoint_url=proxy.url, log_group_name=group, log_stream_name="svc"
    )
    processor = processor_for(exporter)
    with pipeline(processor, "svc") as log:
        lines = emit(log, 200, "before")
        assert processor.force_flush(10_000)
        assert keys_for(proxy, PUT) == {OLD_KEY}
        proxy.refuse_key(OLD_KEY, code, REFUSALS[code])  # the old key is revoked first...
        lines += emit(log, 300, "during")
        # refused twice: the chain was read again, and gave the old key again (or dropped)
        wait_until(lambda: proxy.injected["refused_key"] >= 2 or processor.stats().dropped_total)
        write_credentials(credentials_file, NEW_KEY)  # ...and the new one written after
        lines += emit(log, 300, "after")
        assert processor.force_flush(30_000)
        signed_with_old = proxy.signed_with[(PUT, OLD_KEY)]
        lines += emit(log, 100, "later")
        assert processor.force_flush(10_000)
    stats = processor.stats()
    assert stats.exporter is not None
    assert in_order(logs, group, "svc") == lines
    assert stats.dropped == {}
    assert stats.exporter.dropped == {}
    assert stats.exporter.delivered == len(lines)
    assert stats.exporter.retries.get(code, 0) >= 2
    assert proxy.signed_with[(PUT, OLD_KEY)] == signed_with_old  # the old key is done with
    assert proxy.signed_with[(PUT, NEW_KEY)] > 0
    assert len(recorder.events(group, "svc")) > len(lines)  # refused requests are recorded too


def test_export_signs_again_with_the_rewritten_key(
    credentials_file: Path, recorded: tuple[FaultProxy, Recorder], logs: Any, group: str
) -> None:
    proxy, recorder = recorded
    write_credentials(credentials_file, OLD_KEY)
    exporter = CloudWatchLogExporter(
        endpoint_url=proxy.url, log_group_name=group, log_stream_name="s"
    )
    assert exporter.export(sdk_items(["with the old key"])) == ExportResult.SUCCESS
    signed_with_old = proxy.signed_with[(PUT, OLD_KEY)]
    proxy.refuse_key(OLD_KEY)
    write_credentials(credentials_file, NEW_KEY)
    assert exporter.export(sdk_items(["with the new key"])) == ExportResult.SUCCESS
    assert in_order(logs, group, "s") == ["with the old key", "with the new key"]
    assert proxy.signed_with[(PUT, OLD_KEY)] == signed_with_old + 1  # refused once
    assert proxy.signed_with[(PUT, NEW_KEY)] == 1
    assert exporter.stats().retries == {"UnrecognizedClientException": 1}
    assert len(recorder.requests) == signed_with_old + 2
    exporter.shutdown()


def test_an_sts_outage_while_assuming_the_role_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,
    recorded: tuple[FaultProxy, Recorder],
    logs: Any,
    group: str,
) -> None:
    proxy, recorder = recorded
    sts = FaultProxy(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # one STS call per fetch: no retries of its own
    sts.down()
    exporter = CloudWatchLogExporter(
        endpoint_url=proxy.url, log_group_name=group, log_stream_name="svc", role_arn=ROLE
    )
    processor = processor_for(exporter)
    try:
        with pipeline(processor, "svc") as log:
            lines = emit(log, 300, "during")
            # three tries failed on STS (or the records were dropped)
            wait_until(
                lambda: exporter.stats().failed_requests >= 3 or processor.stats().dropped_total
            )
            sts.up()
            lines += emit(log, 200, "after")
            assert processor.force_flush(30_000)
    finally:
        sts.close()
    stats = processor.stats()
    assert stats.exporter is not None
    assert in_order(logs, group, "svc") == lines
    assert stats.dropped == {}
    assert stats.exporter.dropped == {}
    assert stats.exporter.retries.get("CredentialRetrievalError", 0) >= 3
    keys = keys_for(proxy, PUT)
    assert keys
    assert "testing" not in keys  # signed as the role, not with the base credentials
    assert recorder.requests


def test_a_key_that_stays_refused_is_dropped_and_reported_after_the_grace(
    credentials_file: Path,
    recorded: tuple[FaultProxy, Recorder],
    logs: Any,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, recorder = recorded
    write_credentials(credentials_file, OLD_KEY)
    proxy.refuse_key(OLD_KEY)
    exporter = CloudWatchLogExporter(
        endpoint_url=proxy.url, log_group_name=group, log_stream_name="svc"
    )
    exporter.edge.policy = dataclasses.replace(exporter.edge.policy, credential_grace_s=0.5)
    processor = processor_for(exporter)
    with caplog.at_level(logging.ERROR, logger="otel_cwlogs"), pipeline(processor, "svc") as log:
        emit(log, 300)
        wait_until(lambda: processor.stats().dropped_total == 300)
    assert processor.stats().dropped == {"undeliverable": 300}
    stats = exporter.stats()
    assert stats.delivered == 0
    assert stats.retries.get("UnrecognizedClientException", 0) >= 1  # retried while passing
    ours = [r for r in caplog.records if r.name == "otel_cwlogs" and r.levelno == logging.ERROR]
    assert len(ours) == 1
    assert "UnrecognizedClientException" in ours[0].getMessage()
    assert "the AWS access key id or secret key is not valid" in ours[0].getMessage()
    assert keys_for(proxy, PUT) == {OLD_KEY}
    assert recorder.requests
