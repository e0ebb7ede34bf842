"""AWS-native configuration: an assumed role, a named profile, the region on EC2, the log
class and a KMS key, against the emulator (moto's server also answers STS)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import botocore.credentials
import pytest

from otel_cwlogs import CloudWatchLogExporter, ConfigError
from otel_cwlogs._sdk import ExportResult
from otel_cwlogs.credentials import profile_in_effect, region_source

from .conftest import keys_for, read_events
from .faultproxy import FaultProxy
from .limits import Recorder
from .records import sdk_items

ROLE = "arn:aws:iam::123456789012:role/log-writer"


def signing_key(exporter: CloudWatchLogExporter) -> str:
    credentials = exporter._edge.client._request_signer._credentials
    return str(credentials.get_frozen_credentials().access_key)


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """STS calls go to the emulator, as ``AWS_ENDPOINT_URL_STS`` sends them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint)
    return moto_endpoint


def test_put_log_events_is_signed_with_the_assumed_roles_key(
    sts: str, recorded: tuple[FaultProxy, Recorder], logs: Any, group: str
) -> None:
    proxy, recorder = recorded
    exporter = CloudWatchLogExporter(
        endpoint_url=proxy.url, log_group_name=group, log_stream_name="s", role_arn=ROLE
    )
    assert exporter.export(sdk_items(["as the role"])) == ExportResult.SUCCESS
    (key,) = keys_for(proxy, "PutLogEvents")
    assert key == signing_key(exporter)
    assert key != os.environ["AWS_ACCESS_KEY_ID"]  # not the base credentials
    assert [json.loads(e["message"])["body"] for e in read_events(logs, group, "s")] == [
        "as the role"
    ]
    assert recorder.requests
    exporter.shutdown()


def test_expiring_credentials_are_refreshed_without_a_lost_record(
    sts: str,
    recorded: tuple[FaultProxy, Recorder],
    logs: Any,
    group: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # time passes: botocore's cache of assumed-role credentials sees them expired
    monkeypatch.setattr(
        botocore.credentials.CachedCredentialFetcher, "_is_expired", lambda self, found: True
    )
    proxy, _ = recorded
    exporter = CloudWatchLogExporter(
        endpoint_url=proxy.url, log_group_name=group, log_stream_name="s", role_arn=ROLE
    )
    credentials = exporter._edge.client._request_signer._credentials
    bodies = []
    for round_number in range(3):
        batch = [f"round {round_number} line {i}" for i in range(50)]
        bodies += batch
        assert exporter.export(sdk_items(batch)) == ExportResult.SUCCESS
        credentials._expiry_time = credentials._expiry_time.replace(year=2000)  # expired now
    assert len(keys_for(proxy, "PutLogEvents")) == 3  # a fresh key for each round
    stored = [json.loads(e["message"])["body"] for e in read_events(logs, group, "s")]
    assert stored == bodies
    exporter.shutdown()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_role_that_cannot_be_assumed_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    moto_endpoint: str,
    group: str,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{closed_port()}")
    exporter = CloudWatchLogExporter(
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="s",
        role_arn=ROLE,
        export_timeout_millis=1000,
    )
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"):
        for _ in range(3):
            assert exporter.export(sdk_items(["never sent"])) == ExportResult.FAILURE
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once a minute, not a line (or a stack trace) per batch
    message = errors[0].getMessage()
    assert f"assume role {ROLE}" in message
    assert "as the caller" in message  # who tried (STS itself is unreachable here)
    assert "Could not connect to the endpoint URL" in message  # and why
    assert not errors[0].exc_info
    exporter.shutdown()


def test_a_named_profile_is_read_as_boto3_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_endpoint: str, group: str
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile shipping]\nregion = eu-west-3\n")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[shipping]\naws_access_key_id = AKIAPROFILEKEY000001\naws_secret_access_key = x\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME", "shipping")
    exporter = CloudWatchLogExporter(endpoint_url=moto_endpoint, log_group_name=group)
    assert exporter._edge.client.meta.region_name == "eu-west-3"
    assert signing_key(exporter) == "AKIAPROFILEKEY000001"
    exporter.shutdown()


def test_a_profile_that_is_not_in_the_files_is_refused_or_ignored(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    moto_endpoint: str,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As an argument, a ValueError naming it; as the variable, a warning, and the default
    chain (here, the environment's keys)."""
    config = tmp_path / "config"
    config.write_text("[profile shipping]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="profile_name='shiping' is invalid: expected a profile"):
        CloudWatchLogExporter(
            endpoint_url=moto_endpoint, log_group_name=group, profile_name="shiping"
        )
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME", "shiping")
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"):
        exporter = CloudWatchLogExporter(endpoint_url=moto_endpoint, log_group_name=group)
    assert "OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME='shiping' is invalid" in caplog.text
    assert exporter.config.profile_name is None
    assert signing_key(exporter) == os.environ["AWS_ACCESS_KEY_ID"]
    exporter.shutdown()


class _Metadata(BaseHTTPRequestHandler):
    """The instance metadata service, IMDSv2: a token first, then the availability zone."""

    zone = "eu-north-1b"
    requests: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        self.requests.append(f"PUT {self.path}")
        self._reply(b"a-token" if self.path == "/latest/api/token" else b"")

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        if self.headers.get("X-aws-ec2-metadata-token") != "a-token":
            self.send_response(401)
            self.end_headers()
            return
        if self.path == "/latest/meta-data/placement/availability-zone/":
            self._reply(self.zone.encode())
            return
        self.send_response(404)
        self.end_headers()

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def metadata_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    yield url
    server.shutdown()
    server.server_close()


def test_the_region_comes_from_instance_metadata_when_nothing_else_gives_one(
    monkeypatch: pytest.MonkeyPatch, metadata_service: str, moto_endpoint: str, group: str
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    _Metadata.requests.clear()
    exporter = CloudWatchLogExporter(endpoint_url=moto_endpoint, log_group_name=group)
    assert exporter._edge.client.meta.region_name == "eu-north-1"
    assert _Metadata.requests[0] == "PUT /latest/api/token"  # IMDSv2
    exporter.shutdown()


def test_no_region_anywhere_is_still_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="instance metadata service gave none"):
        CloudWatchLogExporter(endpoint_url=moto_endpoint)
    assert time.monotonic() - started < 3


def test_a_created_group_carries_the_class_and_the_key(
    session: Any, moto_endpoint: str, logs: Any, group: str
) -> None:
    sent: list[dict[str, Any]] = []
    key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-000000000001"
    session.events.register(
        "provide-client-params.cloudwatch-logs.CreateLogGroup",
        lambda params, **_: sent.append(dict(params)),
    )
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="s",
        log_group_class="infrequent_access",
        kms_key_id=key,
    )
    assert exporter.export(sdk_items(["in a cheaper, encrypted group"])) == ExportResult.SUCCESS
    assert sent == [{"logGroupName": group, "logGroupClass": "INFREQUENT_ACCESS", "kmsKeyId": key}]
    (info,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert info["kmsKeyId"] == key
    exporter.shutdown()


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("role_arn", "log-writer"),
        ("role_session_name", "x"),
        ("external_id", "a"),
        ("log_group_class", "GLACIER"),
        ("kms_key_id", "alias/mine"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(keyword: str, value: str) -> None:
    with pytest.raises(ValueError, match=rf"{keyword}={value!r} is invalid"):
        CloudWatchLogExporter(**{keyword: value})


def test_the_role_from_the_environment_under_opentelemetry_instrument(
    sts: str, recorded: tuple[FaultProxy, Recorder], logs: Any, group: str
) -> None:
    proxy, _ = recorded
    app = textwrap.dedent("""
        import logging
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("shop").info("shipped as the role")
    """)
    env = {
        **os.environ,
        "OTEL_LOGS_EXPORTER": "cloudwatch_logs",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ROLE_ARN": ROLE,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": proxy.url,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": "app",
    }
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    subprocess.run([str(instrument), sys.executable, "-c", app], env=env, check=True, timeout=120)
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert "shipped as the role" in bodies
    keys = keys_for(proxy, "PutLogEvents")
    assert keys
    assert os.environ["AWS_ACCESS_KEY_ID"] not in keys


@pytest.mark.parametrize(
    ("variables", "profile", "expected"),
    [
        (
            {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_REGION": "eu-central-1"},
            None,
            "AWS_DEFAULT_REGION",
        ),
        ({"AWS_DEFAULT_REGION": "eu-west-2"}, "dev", "AWS_DEFAULT_REGION"),
        ({"AWS_REGION": "eu-central-1"}, None, "AWS_REGION"),
        ({"AWS_REGION": "eu-central-1"}, "dev", "profile 'dev' in {config}"),
        ({}, None, "instance metadata"),
    ],
)
def test_the_region_source_is_the_one_the_client_region_came_from(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    metadata_service: str,
    moto_endpoint: str,
    variables: dict[str, str],
    profile: str | None,
    expected: str,
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session(profile_name=profile)
    exporter = CloudWatchLogExporter(endpoint_url=moto_endpoint, profile_name=profile)
    region = exporter._edge.client.meta.region_name
    exporter.shutdown()
    source = region_source(None, session)
    assert source == expected.format(config=config)
    assert region == {
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_REGION": "eu-central-1",
        "instance metadata": "eu-north-1",
    }.get(source, "eu-west-3")
    assert region_source("OTEL_EXPORTER_CLOUDWATCH_LOGS_REGION_NAME", session) == (
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_REGION_NAME"
    )


@pytest.mark.parametrize(
    ("variables", "profile_name", "expected"),
    [
        ({}, None, ("default", "default")),
        ({"AWS_PROFILE": "dev"}, None, ("dev", "AWS_PROFILE")),
        (
            {"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "ops"},
            None,
            ("ops", "AWS_DEFAULT_PROFILE"),
        ),
        ({"AWS_PROFILE": "dev"}, "ship", ("ship", "profile_name")),
    ],
)
def test_the_profile_in_effect_is_botocores(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variables: dict[str, str],
    profile_name: str | None,
    expected: tuple[str, str],
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\n[profile ops]\n[profile ship]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert profile_in_effect(profile_name, "profile_name") == expected
    assert boto3.session.Session(profile_name=profile_name).profile_name == expected[0]
