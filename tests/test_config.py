from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, ConfigError
from otel_cwlogs.config import (
    ARGUMENT,
    DEFAULT,
    ExporterConfig,
    ProcessorConfig,
    collecting_invalid_variables,
    env_name,
    ignoring_invalid_variables,
)

from .records import Capture


def test_defaults() -> None:
    config = ExporterConfig.resolve(environ={})
    assert config.log_group_name is None
    assert config.create_log_group is True
    assert config.retention_in_days is None
    assert config.tags == {}
    assert config.message_format == "json"
    assert config.max_event_bytes == 1_048_576
    assert config.oversize == "truncate"
    assert config.export_timeout_millis == 30_000


def test_environment_is_read_and_explicit_arguments_win() -> None:
    env = {
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": "/env/group",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": "env-stream",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_CREATE_LOG_GROUP": "false",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS": "30",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_TAGS": "team=core, env = prod",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_MESSAGE_FORMAT": "BODY",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_MAX_EVENT_BYTES": "262144",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_OVERSIZE": "split",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_EXPORT_TIMEOUT_MILLIS": "500",
    }
    config = ExporterConfig.resolve(environ=env)
    assert config.log_group_name == "/env/group"
    assert config.log_stream_name == "env-stream"
    assert config.create_log_group is False
    assert config.retention_in_days == 30
    assert config.tags == {"team": "core", "env": "prod"}
    assert config.message_format == "body"
    assert config.max_event_bytes == 262_144
    assert config.oversize == "split"
    assert config.export_timeout_millis == 500
    config = ExporterConfig.resolve(environ=env, log_group_name="/arg", retention_in_days=7)
    assert config.log_group_name == "/arg"
    assert config.retention_in_days == 7


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("RETENTION_IN_DAYS", "2", "one of 1, 3, 5"),
        ("RETENTION_IN_DAYS", "abc", "one of 1, 3, 5"),
        ("CREATE_LOG_GROUP", "maybe", "true or false"),
        ("MESSAGE_FORMAT", "xml", "json, otlp or body"),
        ("OVERSIZE", "drop", "truncate or split"),
        ("MAX_EVENT_BYTES", "1048577", "262144 to 1048576"),
        ("MAX_EVENT_BYTES", "1000", "262144 to 1048576"),
        ("TAGS", "novalue", "key=value"),
        ("TAGS", "aws:reserved=x", "key=value"),
        ("EXPORT_TIMEOUT_MILLIS", "-1", "above 0"),
        ("ENTITY", "sometimes", "true or false"),
        ("VERIFY", "/no/such/ca.pem", "path of a CA bundle"),
    ],
)
def test_bad_environment_values_name_the_variable(variable: str, value: str, accepted: str) -> None:
    name = "OTEL_EXPORTER_CLOUDWATCH_LOGS_" + variable
    with pytest.raises(ConfigError) as info:
        ExporterConfig.resolve(environ={name: value})
    message = str(info.value)
    assert name in message
    assert repr(value) in message
    assert accepted in message


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("retention_in_days", 2),
        ("retention_in_days", True),
        ("max_event_bytes", 10),
        ("message_format", "xml"),
        ("tags", {"k": 1}),
        ("create_log_group", "yes please"),
    ],
)
def test_bad_arguments_name_the_keyword(keyword: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"{keyword}="):
        ExporterConfig.resolve(environ={}, **{keyword: value})


def test_a_bad_template_from_the_environment_is_reported_and_ignored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, moto_endpoint: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "a:b")
    exporter = CloudWatchLogExporter(endpoint_url=moto_endpoint)
    assert "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME='a:b' is invalid" in caplog.text
    assert exporter.config.log_stream_name is None  # the default template
    exporter.shutdown()
    with pytest.raises(ConfigError, match="log_stream_name='a:b'"):
        CloudWatchLogExporter(endpoint_url=moto_endpoint, log_stream_name="a:b")


def test_exporter_without_a_region_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match=r"region_name.*AWS_REGION"):
        CloudWatchLogExporter()


def test_exporter_takes_its_names_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME", "/from/env")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL", moto_endpoint)
    exporter = CloudWatchLogExporter()
    assert exporter.config.log_group_name == "/from/env"
    assert exporter.config.endpoint_url == moto_endpoint
    exporter.shutdown()


def test_aws_region_is_honoured_when_boto3_finds_no_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    exporter = CloudWatchLogExporter()
    assert exporter._edge.client.meta.region_name == "eu-west-3"
    exporter.shutdown()


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME", "bad group!", "log group name"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME", "{unclosed", "unbalanced"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL", "not a url", "expected a URL"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_REGION_NAME", "mars 1!", "AWS region name"),
    ],
)
def test_a_bad_exporter_variable_is_reported_and_ignored(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
    accepted: str,
) -> None:
    monkeypatch.setenv(variable, value)
    exporter = CloudWatchLogExporter()
    warnings = [r.getMessage() for r in caplog.records if variable in r.getMessage()]
    assert len(warnings) == 1
    assert f"{variable}={value!r} is invalid" in warnings[0]
    assert accepted in warnings[0]
    assert "ignored" in warnings[0]
    default = ExporterConfig.resolve({})
    keyword = variable.removeprefix("OTEL_EXPORTER_CLOUDWATCH_LOGS_").lower()
    assert getattr(exporter.config, keyword) == getattr(default, keyword)
    exporter.shutdown()


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_SCHEDULE_DELAY_MILLIS", "0", "above 0"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "soon", "above 0"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_MAX_EXPORT_BATCH_SIZE", "10001", "1 to 10000"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "0", "1 to 10000"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_EXPORT_TIMEOUT_MILLIS", "-5", "above 0"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "x", "above 0"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_MAX_QUEUE_SIZE", "0", "positive integer"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "1.5", "positive integer"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_MAX_QUEUE_BYTES", "1000", "1048576"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_REQUESTS_PER_SECOND", "-1", "0 for no limit"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_MAX_CONCURRENT_REQUESTS", "65", "1 to 64"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_FLUSH_ON_SIGTERM", "maybe", "true or false"),
        ("OTEL_EXPORTER_CLOUDWATCH_LOGS_SIGTERM_TIMEOUT_MILLIS", "0", "above 0"),
    ],
)
def test_a_bad_processor_variable_is_reported_and_ignored(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
    accepted: str,
) -> None:
    monkeypatch.setenv(variable, value)
    config = ignoring_invalid_variables(
        lambda environ: ProcessorConfig.resolve(cloudwatch=True, environ=environ)
    )
    warnings = [r.getMessage() for r in caplog.records if variable in r.getMessage()]
    assert len(warnings) == 1
    assert f"{variable}={value!r} is invalid" in warnings[0]
    assert accepted in warnings[0]
    assert config == ProcessorConfig.resolve(cloudwatch=True, environ={})


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("schedule_delay_millis", 0),
        ("max_export_batch_size", 0),
        ("max_queue_size", 0),
        ("requests_per_second", -1),
        ("spool_max_bytes", 10),
    ],
)
def test_a_bad_processor_argument_raises_naming_it(keyword: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"{keyword}={value!r} is invalid"):
        CloudWatchLogRecordProcessor(Capture(), **{keyword: value})


def test_a_bad_exporter_argument_raises_naming_it() -> None:
    with pytest.raises(ValueError, match=r"max_event_bytes=-5 is invalid"):
        CloudWatchLogExporter(max_event_bytes=-5)


def test_standard_variables_are_integers_as_the_sdk_reads_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "2.5")
    monkeypatch.setenv("OTEL_BLRP_EXPORT_TIMEOUT", "4000")
    config = ignoring_invalid_variables(
        lambda environ: ProcessorConfig.resolve(cloudwatch=True, environ=environ)
    )
    assert config.schedule_delay_millis == 1000.0  # not 2.5 ms
    assert config.export_timeout_millis == 4000.0
    assert "OTEL_BLRP_SCHEDULE_DELAY='2.5' is invalid" in caplog.text


def test_the_default_batch_follows_a_smaller_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        ProcessorConfig.resolve(cloudwatch=True, max_queue_size=5000).max_export_batch_size == 5000
    )
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "300")
    assert ProcessorConfig.resolve(cloudwatch=False).max_export_batch_size == 300
    with pytest.raises(ValueError, match="must not exceed max_queue_size"):
        ProcessorConfig.resolve(cloudwatch=True, max_queue_size=100, max_export_batch_size=200)


def test_every_setting_is_reachable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each keyword of the exporter and the processor has its variable."""
    exporter_keywords = set(inspect.signature(CloudWatchLogExporter).parameters) - {
        "client",
        "session",
        "meter_provider",
    }
    assert exporter_keywords == {f.name for f in dataclasses.fields(ExporterConfig)}
    processor_keywords = set(inspect.signature(CloudWatchLogRecordProcessor).parameters) - {
        "exporter",
        "meter_provider",
        "sigterm_timeout_millis",  # another name of shutdown_timeout_millis
    }
    assert processor_keywords == {f.name for f in dataclasses.fields(ProcessorConfig)}
    values = {
        "schedule_delay_millis": ("250", 250.0),
        "max_export_batch_size": ("100", 100),
        "export_timeout_millis": ("900", 900.0),
        "max_queue_size": ("1000", 1000),
        "max_queue_bytes": ("2097152", 2_097_152),
        "requests_per_second": ("2.5", 2.5),
        "max_concurrent_requests": ("2", 2),
        "flush_on_sigterm": ("false", False),
        "shutdown_timeout_millis": ("2500", 2500.0),
        "spool_dir": ("/var/spool/app-logs", "/var/spool/app-logs"),
        "spool_max_bytes": ("2097152", 2_097_152),
    }
    for keyword, (text, _) in values.items():
        monkeypatch.setenv(env_name(keyword), text)
    config = ProcessorConfig.resolve(cloudwatch=True)
    assert {k: getattr(config, k) for k in values} == {k: v for k, (_, v) in values.items()}


def test_sigterm_timeout_is_another_name_of_the_shutdown_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def timeout(**explicit: Any) -> float:
        return ProcessorConfig.resolve(cloudwatch=True, **explicit).shutdown_timeout_millis

    assert timeout() == 5000
    assert timeout(sigterm_timeout_millis=3000) == 3000
    assert timeout(shutdown_timeout_millis=2000, sigterm_timeout_millis=3000) == 2000
    monkeypatch.setenv(env_name("sigterm_timeout_millis"), "4000")
    assert timeout() == 4000
    monkeypatch.setenv(env_name("shutdown_timeout_millis"), "4500")
    assert timeout() == 4500
    assert timeout(sigterm_timeout_millis=3000) == 3000  # an argument before any variable
    with pytest.raises(ConfigError, match="sigterm_timeout_millis"):
        timeout(sigterm_timeout_millis=-1)


def test_tls_verification_is_on_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    def verify_of(exporter: CloudWatchLogExporter) -> Any:
        return exporter._edge.client._endpoint.http_session._verify

    default = verify_of(CloudWatchLogExporter())
    assert default is True or (isinstance(default, str) and default)  # on, with a CA bundle
    assert verify_of(CloudWatchLogExporter(verify=False)) is False
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_VERIFY", str(bundle))
    assert verify_of(CloudWatchLogExporter()) == str(bundle)
    monkeypatch.setenv("OTEL_EXPORTER_CLOUDWATCH_LOGS_VERIFY", "/no/such/bundle.pem")
    assert verify_of(CloudWatchLogExporter()) == default  # reported, ignored: still on
    with pytest.raises(ConfigError, match="path of a CA bundle"):
        CloudWatchLogExporter(verify="/no/such/bundle.pem")


def test_the_aws_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    files = tmp_path / "config"
    files.write_text("[profile shipping]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(files))
    env = {
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_PROFILE_NAME": "shipping",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ROLE_ARN": "arn:aws:iam::123456789012:role/log-writer",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ROLE_SESSION_NAME": "checkout-logs",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_EXTERNAL_ID": "ext-1234",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_CLASS": "infrequent_access",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_KMS_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/k-1",
    }
    config = ExporterConfig.resolve(environ=env)
    assert config.profile_name == "shipping"
    assert config.role_arn == "arn:aws:iam::123456789012:role/log-writer"
    assert config.role_session_name == "checkout-logs"
    assert config.external_id == "ext-1234"
    assert config.log_group_class == "INFREQUENT_ACCESS"
    assert config.kms_key_id == "arn:aws:kms:eu-west-1:123456789012:key/k-1"


def test_the_source_of_each_exporter_setting_is_named() -> None:
    env = {
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": "/env/group",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_VERIFY": "false",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_TAGS": " ",
    }
    sources = ExporterConfig.sources(env, log_group_name="/explicit", region_name="eu-west-1")
    assert set(sources) == {f.name for f in dataclasses.fields(ExporterConfig)}
    assert sources["log_group_name"] == ARGUMENT
    assert sources["region_name"] == ARGUMENT
    assert sources["verify"] == "OTEL_EXPORTER_CLOUDWATCH_LOGS_VERIFY"
    assert sources["tags"] == DEFAULT  # blank is unset, as resolve reads it
    assert sources["retention_in_days"] == DEFAULT


@pytest.mark.parametrize(
    ("env", "explicit", "keyword", "expected"),
    [
        ({"OTEL_BLRP_MAX_QUEUE_SIZE": "100"}, {}, "max_queue_size", "OTEL_BLRP_MAX_QUEUE_SIZE"),
        (
            {"OTEL_BLRP_SCHEDULE_DELAY": "5", env_name("schedule_delay_millis"): "7"},
            {},
            "schedule_delay_millis",
            env_name("schedule_delay_millis"),
        ),
        (
            {"OTEL_BLRP_EXPORT_TIMEOUT": "5"},
            {"export_timeout_millis": 9},
            "export_timeout_millis",
            ARGUMENT,
        ),
        ({}, {}, "spool_dir", DEFAULT),
        (
            {env_name("sigterm_timeout_millis"): "2000"},
            {},
            "shutdown_timeout_millis",
            env_name("sigterm_timeout_millis"),
        ),
        (
            {env_name("shutdown_timeout_millis"): "3000"},
            {"sigterm_timeout_millis": 2000},
            "shutdown_timeout_millis",
            ARGUMENT,
        ),
    ],
)
def test_the_source_of_each_processor_setting_is_named(
    env: dict[str, str], explicit: dict[str, Any], keyword: str, expected: str
) -> None:
    assert ProcessorConfig.sources(env, **explicit)[keyword] == expected


def test_the_named_source_is_the_one_resolve_reads() -> None:
    env = {
        "OTEL_BLRP_MAX_QUEUE_SIZE": "300000",
        env_name("sigterm_timeout_millis"): "2500",
        env_name("max_queue_bytes"): "2097152",
    }
    config = ProcessorConfig.resolve(cloudwatch=True, environ=env)
    sources = ProcessorConfig.sources(env)
    for keyword, source in sources.items():
        value = getattr(config, keyword)
        if source == DEFAULT:
            assert value == getattr(ProcessorConfig.resolve(cloudwatch=True, environ={}), keyword)
        else:
            assert float(env[source]) == float(value)


def test_invalid_variables_can_be_collected_instead_of_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "lots")
    monkeypatch.setenv(env_name("retention_in_days"), "13")
    with collecting_invalid_variables() as refused:
        config = ignoring_invalid_variables(
            lambda environ: ProcessorConfig.resolve(cloudwatch=True, environ=environ)
        )
        exporter = CloudWatchLogExporter(region_name="us-east-1")
    assert [e.setting for e in refused] == [
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        env_name("retention_in_days"),
    ]
    assert config.max_queue_size == 262_144
    assert exporter.config.retention_in_days is None
    assert "is invalid" not in caplog.text
    ignoring_invalid_variables(
        lambda environ: ProcessorConfig.resolve(cloudwatch=True, environ=environ)
    )
    assert "OTEL_BLRP_MAX_QUEUE_SIZE='lots' is invalid" in caplog.text
