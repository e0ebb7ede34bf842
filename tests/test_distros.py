"""`opentelemetry-instrument` with the distros users install, in real subprocesses.

Run by the tox envs ``py311-distro`` (``opentelemetry-distro`` with the OTLP exporters, as the
OpenTelemetry documentation installs it) and ``py311-adot`` (AWS's
``aws-opentelemetry-distro``). Nothing but ``OTEL_LOGS_EXPORTER`` is set for the pipeline
(the exporter's own endpoint and group aside): traces and metrics go where the distro sends
them by default, which here is nowhere.
"""

from __future__ import annotations

import socket
from importlib.util import find_spec
from typing import Any

import pytest

from .autorun import BURST, BURST_EXPECTED, BURST_LINES, app_stream, instrument, otel_handlers, ours
from .limits import Recorder

ADOT = find_spec("amazon") is not None and find_spec("amazon.opentelemetry.distro") is not None
DISTRO_CONFIGURATOR = "aws_configurator" if ADOT else "configurator"

pytestmark = pytest.mark.skipif(
    find_spec("opentelemetry.distro") is None,
    reason="needs a distro: tox -e py311-distro or -e py311-adot",
)

LINES = BURST_LINES
EXPECTED = BURST_EXPECTED


def assert_distro_configuration(report: dict[str, Any]) -> None:
    """The distro's own configurator ran, alone."""
    assert report["configured"] == [DISTRO_CONFIGURATOR]
    assert report["resource"]["telemetry.auto.version"]
    if ADOT:  # ADOT's resource and its traces set-up (X-Ray ids) are in effect
        assert report["resource"]["telemetry.auto.version"].endswith("-aws")
        assert report["id_generator"] == "AwsXRayIdGenerator"


@pytest.mark.parametrize("flag", ["<unset>", "true"], ids=["flag-unset", "flag-set"])
def test_a_burst_arrives_whole_and_in_order(
    checked: str, logs: Any, group: str, recorder: Recorder, flag: str
) -> None:
    result, report = instrument(
        BURST,
        checked,
        group,
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=flag,
        # with no collector here, the distro's OTLP exporters would fail at exit and log it
        # after the logs pipeline is shut down (a drop this package would rightly report)
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
    )
    delivered = app_stream(logs, group, flag)
    print(f"{DISTRO_CONFIGURATOR}, flag {flag}: {len(delivered)} of {LINES} delivered")
    assert delivered == EXPECTED  # exactly the app's records: nothing of the start-up's
    assert not [line for line in result.stderr.splitlines() if ours(line)], result.stderr
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert otel_handlers(report) == ["otel_cwlogs.handler"]
    assert_distro_configuration(report)
    assert len(recorder.requests) >= 1


def test_a_configurator_named_by_an_older_release_still_ships(
    checked: str, logs: Any, group: str
) -> None:
    """``OTEL_PYTHON_CONFIGURATOR=cloudwatch_logs`` named this package's configurator, which
    is gone: nothing is configured by that name, so the hook runs the SDK's configuration."""
    _, report = instrument(
        BURST,
        checked,
        group,
        OTEL_PYTHON_CONFIGURATOR="cloudwatch_logs",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
    )
    assert report["configured"] == []
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert app_stream(logs, group) == EXPECTED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNREACHABLE = """
    import logging
    from opentelemetry._logs import get_logger_provider
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("shop")
    provider = get_logger_provider()
    (ours,) = provider._multi_log_record_processor._log_record_processors
    before = ours.stats().received
    for round in range(2):
        for i in range(100):
            log.info("round %d line %d", round, i)
        provider.force_flush(5000)
    print("RECEIVED", ours.stats().received - before)
"""


def test_an_unreachable_endpoint_is_reported_on_stderr_once(group: str) -> None:
    result, _ = instrument(
        UNREACHABLE,
        f"http://127.0.0.1:{free_port()}",
        group,
        OTEL_BLRP_EXPORT_TIMEOUT="1500",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
    )
    failures = [line for line in result.stderr.splitlines() if "could not deliver" in line]
    assert len(failures) == 1, result.stderr  # two failed flushes, one line a minute
    assert failures[0].startswith("otel_cwlogs: ERROR:")
    assert "Could not connect to the endpoint URL" in failures[0]
    # the package's own reports never came back through the pipeline as records
    assert "RECEIVED 200" in result.stdout
