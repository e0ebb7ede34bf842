"""otel-cwlogs check, against the emulator and the fault proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_cwlogs.check import main

from .faultproxy import FaultProxy


def check(*args: str) -> tuple[int, str]:
    lines: list[str] = []
    status = main(["check", *args], out=lines.append)
    return status, "\n".join(lines)


def test_a_clean_report_against_the_emulator(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS", "14")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_TAGS", "team=core")
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 0, out
    for line in [
        "✔ logs:CreateLogGroup",
        "✔ logs:PutRetentionPolicy",
        "✔ logs:TagResource",
        "✔ logs:CreateLogStream",
        "✔ logs:PutLogEvents",
        "✔ read back: the test event is in the stream",
        "caller identity: arn:aws:",
        "all checks passed",
    ]:
        assert line in out
    assert "testing" not in out.replace("testing…", "")  # the secret key is never shown


def test_json_output(moto_endpoint: str, group: str) -> None:
    status, out = check("--json", "--endpoint-url", moto_endpoint, "--log-group-name", group)
    report = json.loads(out)
    assert status == 0
    assert report["ok"] is True
    assert report["configuration"]["log_group_name"] == group
    assert {s["name"]: s["status"] for s in report["steps"]}["logs:PutLogEvents"] == "ok"


def test_a_denied_action_is_named(proxy: FaultProxy, group: str) -> None:
    proxy.error("PutLogEvents", "AccessDeniedException", times=5, message="not authorized")
    status, out = check("--endpoint-url", proxy.url, "--log-group-name", group)
    assert status == 1
    assert "✘ logs:PutLogEvents: AccessDeniedException" in out
    assert "the credentials lack the IAM action logs:PutLogEvents" in out
    assert "some checks failed" in out


def test_invalid_credentials_are_named(proxy: FaultProxy, group: str) -> None:
    proxy.error("CreateLogGroup", "UnrecognizedClientException", times=5)
    status, out = check("--endpoint-url", proxy.url, "--log-group-name", group)
    assert status == 1
    assert "access key id or secret key is not valid" in out


def test_an_unreachable_endpoint_is_named() -> None:
    with socket_on_free_port() as port:
        url = f"http://127.0.0.1:{port}"
    status, out = check("--endpoint-url", url)
    assert status == 1
    assert f"the endpoint {url} is unreachable" in out


def test_a_missing_region_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    status, out = check()
    assert status == 2
    assert "no AWS region is configured" in out


def test_the_console_script_and_the_module(moto_endpoint: str, group: str) -> None:
    script = Path(sys.executable).parent / "otel-cwlogs"
    for command in ([str(script)], [sys.executable, "-m", "otel_cwlogs"]):
        result = subprocess.run(
            [*command, "check", "--endpoint-url", moto_endpoint, "--log-group-name", group],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "all checks passed" in result.stdout


class socket_on_free_port:
    """A port that was free a moment ago, closed again: nothing listens there."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()


def test_an_assumed_role_is_checked_first_and_the_sources_are_named(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_ROLE_ARN", "arn:aws:iam::123456789012:role/w")
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 0, out
    lines = out.splitlines()
    assumed = next(i for i, line in enumerate(lines) if "✔ sts:AssumeRole" in line)
    written = next(i for i, line in enumerate(lines) if "✔ logs:PutLogEvents" in line)
    assert assumed < written
    assert "credentials: from an assumed role" in out
    assert "region: us-east-1, from the AWS profile or AWS_DEFAULT_REGION" in out


def test_a_role_that_cannot_be_assumed_is_named_with_what_to_do(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_ROLE_ARN", "arn:aws:iam::123456789012:role/w")
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 1
    assert "✘ sts:AssumeRole: EndpointConnectionError" in out
    assert "is unreachable" in out


def test_an_invalid_variable_fails_the_check_though_an_application_would_ignore_it(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "lots")
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 2
    assert "✘ configuration: otel_cwlogs: OTEL_BLRP_MAX_QUEUE_SIZE='lots' is invalid" in out
