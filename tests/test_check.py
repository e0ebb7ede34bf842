"""otel-cwlogs check, against the emulator and the fault proxy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_cwlogs.check import main, text_of

from .conftest import stream_names
from .faultproxy import FaultProxy

SETTING_LINE = re.compile(r"  ([^:]+): (.*?) \((.*)\)")


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
    assert report["exit_status"] == 0
    assert report["settings"]["exporter"]["log_group_name"] == {
        "value": group,
        "source": "--log-group-name",
    }
    assert {s["name"]: s["status"] for s in report["steps"]}["logs:PutLogEvents"] == "ok"


def settings_of_text(out: str) -> tuple[dict[str, dict[str, tuple[str, str]]], dict[str, str]]:
    """The sections of a text report: each setting's value and source, and the not-set line."""
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    not_set: dict[str, str] = {}
    section = ""
    for line in out.splitlines()[1:]:
        if re.fullmatch(r"[a-z]+:", line):
            section = line[:-1]
            sections[section] = {}
        elif line.startswith("  not set: "):
            not_set[section] = line.removeprefix("  not set: ")
        elif line.startswith("  ") and not line.startswith("    "):
            match = SETTING_LINE.fullmatch(line)
            assert match, line
            sections[section][match[1]] = (match[2], match[3])
    return sections, not_set


def settings_of_json(report: dict[str, Any]) -> dict[str, dict[str, tuple[str, str]]]:
    return {
        section: {
            name: (
                text_of(item["value"]),
                "default" if item["source"] == "default" else f"from {item['source']}",
            )
            for name, item in settings.items()
        }
        for section, settings in report["settings"].items()
    }


def test_json_carries_the_facts_of_the_text(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_TAGS", "team=core,env=prod")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "2000")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    arguments = ("--endpoint-url", moto_endpoint, "--log-group-name", group)
    check(*arguments)  # the group and the stream exist from now on: both runs below say so
    text_status, text = check(*arguments)
    json_status, out = check("--json", *arguments)
    report = json.loads(out)
    assert text_status == json_status == report["exit_status"] == 0
    from_text, not_set = settings_of_text(text)
    from_json = settings_of_json(report)
    for facts in (from_text, from_json):
        del facts["names"]["log_stream"]  # of each run's own exporter: a new instance id
    assert from_text == from_json
    assert not_set == {k: ", ".join(v) for k, v in report["not_set"].items() if v}
    steps = [line for line in text.splitlines() if line[:1] in "✔✘!-·"]
    symbols = {"ok": "✔", "failed": "✘", "warning": "!", "skipped": "-", "info": "·"}
    assert steps == [f"{symbols[s['status']]} {s['name']}: {s['detail']}" for s in report["steps"]]
    assert from_json["processor"]["schedule_delay_millis"] == (
        "2000",
        "from OTEL_BLRP_SCHEDULE_DELAY",
    )
    assert from_json["exporter"]["tags"] == (
        "team=core,env=prod",
        "from OTEL_EXPORTER_CLOUDWATCH_LOGS_TAGS",
    )


def test_the_settings_in_effect_each_with_its_source(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text("[profile dev]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "dev")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS", "14")
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 0, out
    for line in [
        "  profile: dev (from AWS_PROFILE)",
        f"  region: eu-west-3 (from profile 'dev' in {config})",
        f"  endpoint: {moto_endpoint} (from --endpoint-url)",
        "  verify: true (default)",
        f"  log_group_name: {group} (from --log-group-name)",
        "  log_stream_name: {host.name}/{process.pid}/{service.instance.id} (default)",
        "  retention_in_days: 14 (from OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS)",
        "  export_timeout_millis: 30000 (default)",
        "  not set: tags, role_arn, role_session_name, external_id, log_group_class, kms_key_id",
        "  not set: spool_dir",
    ]:
        assert line in out.splitlines(), line
    assert "None" not in out


@pytest.mark.parametrize(
    ("variables", "arguments", "expected"),
    [
        ({"AWS_DEFAULT_REGION": "eu-west-2"}, (), "eu-west-2 (from AWS_DEFAULT_REGION)"),
        ({"AWS_REGION": "eu-central-1"}, (), "eu-central-1 (from AWS_REGION)"),
        (
            {"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-2"},
            (),
            "eu-west-2 (from AWS_DEFAULT_REGION)",
        ),
        (
            {"OTEL_EXPORTER_CLOUDWATCH_LOGS_REGION_NAME": "ap-south-1"},
            (),
            "ap-south-1 (from OTEL_EXPORTER_CLOUDWATCH_LOGS_REGION_NAME)",
        ),
        (
            {"AWS_REGION": "eu-central-1"},
            ("--region-name", "sa-east-1"),
            "sa-east-1 (from --region-name)",
        ),
    ],
)
def test_the_source_of_the_region_is_named_exactly(
    moto_endpoint: str,
    group: str,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    arguments: tuple[str, ...],
    expected: str,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group, *arguments)
    assert status == 0, out
    assert f"  region: {expected}" in out.splitlines()


@pytest.mark.parametrize(
    "value",
    [
        "cloudwatch-logs",
        "cloudwatchlogs",
        "cloudwatch_log",
        "CloudWatch_Logs",
        "otlp,cloudwatch-log",
    ],
)
def test_a_misspelt_logs_exporter_is_an_invalid_setting(
    moto_endpoint: str, group: str, logs: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", value)
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 2, out
    assert f"✘ invalid setting: OTEL_LOGS_EXPORTER={value!r}: no logs exporter is named" in out
    assert "did you mean `cloudwatch_logs`?" in out
    assert "all checks passed" not in out
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []  # AWS untouched


@pytest.mark.parametrize("value", ["consol", "cloudwatch_logs,zipkin", "cloudwatch_logs,none"])
def test_a_logs_exporter_that_is_not_installed_is_an_invalid_setting(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", value)
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 2, out
    missing = value.rsplit(",", maxsplit=1)[-1]
    assert (
        f"✘ invalid setting: OTEL_LOGS_EXPORTER={value!r}: no logs exporter named {missing!r} "
        "is installed" in out
    )
    assert "all checks passed" not in out


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("cloudwatch_logs", "✔ OTEL_LOGS_EXPORTER: cloudwatch_logs: opentelemetry-instrument"),
        ("otlp,cloudwatch_logs", "✔ OTEL_LOGS_EXPORTER: otlp,cloudwatch_logs: "),
        ("", "! OTEL_LOGS_EXPORTER: not set: opentelemetry-instrument sets up no logs exporter"),
        ("none", "! OTEL_LOGS_EXPORTER: 'none': opentelemetry-instrument sets up no logs exporter"),
        ("otlp", "! OTEL_LOGS_EXPORTER: 'otlp': under opentelemetry-instrument records go to otlp"),
    ],
)
def test_the_logs_exporter_selected_is_checked(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch, value: str, line: str
) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", value)
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 0, out
    assert line in out
    assert "all checks passed" in out


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME", "aws/reserved"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME", "/bad name"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "a:b"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS", "13"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_MESSAGE_FORMAT", "xml"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_SCHEDULE_DELAY_MILLIS", "soon"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "lots"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME", "nowhere"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_FAST_HANDLER", "perhaps"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR", "sometimes"),
    ],
)
def test_every_invalid_variable_is_reported_the_same_way(
    moto_endpoint: str, logs: Any, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "doctor-invalid")
    status, out = check("--endpoint-url", moto_endpoint)
    assert status == 2, out
    assert f"✘ invalid setting: {variable}={value!r}: " in out
    assert "an application warns about it and runs without it" in out
    assert "- AWS: not called: fix the invalid settings first" in out


def test_all_invalid_settings_are_named_at_once(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS", "13")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_EXPORT_TIMEOUT_MILLIS", "-1")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "cloudwatch-logs")
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 2
    invalid = [line for line in out.splitlines() if line.startswith("✘ invalid setting: ")]
    assert [line.split("=")[0] for line in invalid] == [
        "✘ invalid setting: OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS",
        "✘ invalid setting: OTEL_EXPORTER_CLOUDWATCH_LOGS_EXPORT_TIMEOUT_MILLIS",
        "✘ invalid setting: OTEL_LOGS_EXPORTER",
    ]
    assert "  export_timeout_millis: 30000 (default)" in out  # what an application runs with


def test_an_invalid_option_is_an_invalid_setting_too(moto_endpoint: str) -> None:
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", "aws/reserved")
    assert status == 2
    assert "✘ invalid setting: --log-group-name='aws/reserved': must not start with 'aws/'" in out


def test_a_missing_profile_is_an_invalid_setting(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    status, out = check("--endpoint-url", moto_endpoint)
    assert status == 2
    assert "✘ invalid setting: AWS_PROFILE='nowhere': the AWS config and credentials files" in out


def test_a_missing_profile_is_named_by_the_variable_that_gave_it(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's variable names a missing profile too: it is warned about and ignored,
    so the profile botocore fails on is AWS_PROFILE's, and that is the one named."""
    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME", "elsewhere")
    status, out = check("--endpoint-url", moto_endpoint)
    assert status == 2
    assert "✘ invalid setting: AWS_PROFILE='nowhere': the AWS config and credentials files" in out
    assert out.count("OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME='elsewhere'") == 1, out


def test_every_run_writes_to_one_stream_of_its_own(
    moto_endpoint: str, group: str, logs: Any
) -> None:
    for _ in range(2):
        status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
        assert status == 0, out
    assert stream_names(logs, group) == ["otel-cwlogs-check"]
    assert f"✔ logs:CreateLogStream: log stream {group}:otel-cwlogs-check exists" in out
    assert "✔ read back: the test event is in the stream" in out


def test_the_names_are_rendered_for_the_resource(
    moto_endpoint: str, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=doctor-names,team=core")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "{team}/{service.name}")
    status, out = check("--endpoint-url", moto_endpoint)
    assert status == 0, out
    lines = out.splitlines()
    assert "  service.name: doctor-names (from OTEL_RESOURCE_ATTRIBUTES)" in lines
    assert "  log_group: /otel/doctor-names (from template /otel/{service.name})" in lines
    assert (
        "  log_stream: core/doctor-names (from template {team}/{service.name}, for this process)"
        in lines
    )
    assert "otel-cwlogs-check" in stream_names(logs, "/otel/doctor-names")


def test_the_parts_filled_per_record_are_shown_as_such(
    moto_endpoint: str, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=doctor-tenants")
    monkeypatch.setenv(
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME", "/t/{service.name}/{attributes.tenant}"
    )
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "{scope.name}")
    status, out = check("--endpoint-url", moto_endpoint)
    assert status == 0, out
    lines = out.splitlines()
    assert (
        "  log_group: /t/doctor-tenants/<attributes.tenant> (from template "
        "/t/{service.name}/{attributes.tenant}; the parts in <> are filled per record; the "
        "checks below use /t/doctor-tenants/undefined)"
    ) in lines
    assert (
        "  log_stream: <scope.name> (from template {scope.name}, for this process; the parts "
        "in <> are filled per record)"
    ) in lines
    (default,) = [line for line in lines if line.startswith("  default_route: ")]
    assert default.startswith("  default_route: log group /otel/doctor-tenants, stream ")
    assert default.endswith(
        "(from the settings' defaults, for a record whose names cannot be made)"
    )
    assert "otel-cwlogs-check" in stream_names(logs, "/t/doctor-tenants/undefined")


def test_an_unusable_spool_directory_is_an_invalid_setting(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR", str(shared))
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 2, out
    assert (
        f"✘ invalid setting: OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR={str(shared)!r}: "
        "cannot be used: it is writable by other users" in out
    )
    assert "the processor then keeps log records in memory only (no spool)" in out


def test_a_usable_spool_directory_is_made_ready(
    moto_endpoint: str, group: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spool = tmp_path / "deep" / "spool"
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR", str(spool))
    status, out = check("--endpoint-url", moto_endpoint, "--log-group-name", group)
    assert status == 0, out
    assert f"  spool_dir: {spool} (from OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR)" in out
    assert f"✔ spool: {spool} is ready" in out
    assert spool.stat().st_mode & 0o777 == 0o700


def test_the_help_names_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "Exit status:" in help_text
    assert "1  AWS could not be reached" in help_text
    assert "2  a setting is invalid" in help_text


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
    assert "credentials: from an assumed role (method assume-role)" in out
    assert "  region: us-east-1 (from AWS_DEFAULT_REGION)" in lines
    assert (
        "  role_arn: arn:aws:iam::123456789012:role/w (from OTEL_EXPORTER_CLOUDWATCH_LOGS_ROLE_ARN)"
        in lines
    )
    assert "  role_session_name: otel-cwlogs (default)" in lines


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
    assert "✘ invalid setting: OTEL_BLRP_MAX_QUEUE_SIZE='lots': expected a positive integer" in out
