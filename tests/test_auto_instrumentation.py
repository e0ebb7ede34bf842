"""`opentelemetry-instrument` end to end, in real subprocesses, against the emulator."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._configuration import _initialize_components

from .conftest import read_events

INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"

APP = """
    import logging
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("shop")
    log.info("order 1 paid")
    log.warning("stock low: %s", "A-42")
    logging.getLogger("shop.audit").error("refund é 日本")
    print("app done")
"""
APP_LINES = ["order 1 paid", "stock low: A-42", "refund é 日本"]


def instrument(moto_endpoint: str, group: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "OTEL_LOGS_EXPORTER": "cloudwatch_logs",
        "OTEL_SERVICE_NAME": "shop",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": moto_endpoint,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": "app",
        **env,
    }
    full_env = {k: v for k, v in full_env.items() if v != "<unset>"}
    result = subprocess.run(
        [str(INSTRUMENT), sys.executable, "-c", textwrap.dedent(APP)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("app done"), result.stdout
    return result


def bodies(logs: Any, group: str, stream: str = "app") -> list[str]:
    """What the app wrote (instrumentations may log at start-up too)."""
    docs = [json.loads(e["message"]) for e in read_events(logs, group, stream)]
    scopes = [d.get("scope", {}).get("name", "") for d in docs]
    return [
        d["body"]
        for d, scope in zip(docs, scopes)
        if not scope.startswith("opentelemetry.instrumentation")
    ]


def test_the_plain_command_just_works(moto_endpoint: str, logs: Any, group: str) -> None:
    if find_spec("opentelemetry.instrumentation.logging") is not None:
        pytest.skip("with opentelemetry-instrumentation-logging, its handler is tested below")
    instrument(moto_endpoint, group)
    assert bodies(logs, group) == APP_LINES


def test_sdk_handler_variable(moto_endpoint: str, logs: Any, group: str) -> None:
    instrument(moto_endpoint, group, OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true")
    assert bodies(logs, group) == APP_LINES


@pytest.mark.skipif(
    find_spec("opentelemetry.instrumentation.logging") is None,
    reason="opentelemetry-instrumentation-logging is installed in the newest-SDK envs only",
)
def test_with_the_contrib_logging_instrumentation(
    moto_endpoint: str, logs: Any, group: str
) -> None:
    instrument(moto_endpoint, group)
    assert bodies(logs, group) == APP_LINES


def test_resource_from_the_environment_routes_records(
    moto_endpoint: str, logs: Any, group: str
) -> None:
    instrument(
        moto_endpoint,
        group,
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_SERVICE_NAME="checkout",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging,host.name=web-1",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME=group + "/{service.name}",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME="{deployment.environment}/{host.name}",
    )
    assert bodies(logs, group + "/checkout", "staging/web-1") == APP_LINES


def test_an_invalid_setting_is_a_clear_error_and_the_app_runs(
    moto_endpoint: str, group: str
) -> None:
    result = instrument(
        moto_endpoint,
        group,
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS="2",
    )
    assert "OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS='2' is invalid" in result.stderr
    assert "one of 1, 3, 5, 7" in result.stderr


def test_the_cloudwatch_processor_is_used_where_the_sdk_allows(
    moto_endpoint: str, group: str
) -> None:
    code = textwrap.dedent(APP) + textwrap.dedent("""
        from opentelemetry._logs import get_logger_provider
        provider = get_logger_provider()
        processors = provider._multi_log_record_processor._log_record_processors
        print(" ".join(type(p).__name__ for p in processors))
    """)
    result = subprocess.run(
        [str(INSTRUMENT), sys.executable, "-c", code],
        env={
            **os.environ,
            "OTEL_LOGS_EXPORTER": "cloudwatch_logs",
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": moto_endpoint,
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    has_hook = "export_log_record_processor" in inspect.signature(_initialize_components).parameters
    expected = "CloudWatchLogRecordProcessor" if has_hook else "BatchLogRecordProcessor"
    assert result.stdout.split()[-1] == expected
