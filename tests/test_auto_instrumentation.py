"""`opentelemetry-instrument` end to end, in real subprocesses, against the emulator.

These run in every tox env, where no distro is installed: this package's configurator is the
only one. ``test_distros.py`` runs the same under ``opentelemetry-distro`` and ADOT.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import export
from opentelemetry.util._importlib_metadata import entry_points

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, autoconfig

from .autorun import BURST, BURST_EXPECTED, BURST_LINES, app_bodies, instrument, otel_handlers
from .limits import Recorder

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


OTHER_CONFIGURATORS = [
    e.name for e in entry_points(group="opentelemetry_configurator") if e.name != "cloudwatch_logs"
]
without_distro = pytest.mark.skipif(
    bool(OTHER_CONFIGURATORS),
    reason="a distro is installed, so its configurator runs: see test_distros.py",
)


@without_distro
@pytest.mark.parametrize("flag", ["<unset>", "true"])
def test_records_are_shipped_with_the_handler_flag_set_or_not(
    checked: str, logs: Any, group: str, recorder: Recorder, flag: str
) -> None:
    result, report = instrument(
        APP, checked, group, OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=flag
    )
    assert "app done" in result.stdout
    assert app_bodies(logs, group, APP_LINES) == APP_LINES
    assert report["configured"] == ["cloudwatch_logs"]
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert otel_handlers(report) == 1
    assert recorder.requests


@without_distro
@pytest.mark.parametrize("flag", ["<unset>", "true"], ids=["flag-unset", "flag-set"])
def test_a_burst_arrives_whole_and_in_order(
    checked: str, logs: Any, group: str, recorder: Recorder, flag: str
) -> None:
    _, report = instrument(
        BURST, checked, group, OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=flag
    )
    delivered = app_bodies(logs, group, BURST_EXPECTED)
    print(f"instrumentation only, flag {flag}: {len(delivered)} of {BURST_LINES} delivered")
    assert delivered == BURST_EXPECTED
    assert report["configured"] == ["cloudwatch_logs"]
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert otel_handlers(report) == 1
    assert recorder.requests


@without_distro
def test_resource_from_the_environment_routes_records(checked: str, logs: Any, group: str) -> None:
    instrument(
        APP,
        checked,
        group,
        OTEL_SERVICE_NAME="checkout",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging,host.name=web-1",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME=group + "/{service.name}",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME="{deployment.environment}/{host.name}",
    )
    assert app_bodies(logs, group + "/checkout", APP_LINES, "staging/web-1") == APP_LINES


@without_distro
def test_an_invalid_setting_is_a_clear_error_and_the_app_runs(checked: str, group: str) -> None:
    result, _ = instrument(
        APP,
        checked,
        group,
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS="2",
    )
    assert "OTEL_EXPORTER_CLOUDWATCH_LOGS_RETENTION_IN_DAYS='2' is invalid" in result.stderr
    assert "one of 1, 3, 5, 7" in result.stderr


@without_distro
def test_a_spool_dir_that_cannot_be_used_costs_the_spool_not_the_logs(
    checked: str, logs: Any, group: str, tmp_path: Any
) -> None:
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    result, report = instrument(
        APP, checked, group, OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR=str(not_a_directory)
    )
    said = [line for line in result.stderr.splitlines() if "SPOOL_DIR" in line]
    assert len(said) == 1, result.stderr
    assert "cannot be used: it is not a directory" in said[0]
    assert "otel_cwlogs/" not in result.stderr  # no traceback through the package
    assert "Configuration of configurator failed" not in result.stderr
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert app_bodies(logs, group, APP_LINES) == APP_LINES


@without_distro
def test_the_handler_stays_off_when_turned_off(checked: str, logs: Any, group: str) -> None:
    _, report = instrument(
        APP,
        checked,
        group,
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="false",
        OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION="false",
    )
    assert otel_handlers(report) == 0
    assert report["received"] == [0]


@without_distro
def test_the_processor_swap_can_be_turned_off(checked: str, group: str) -> None:
    _, report = instrument(
        APP, checked, group, OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR="false"
    )
    assert report["processors"] == ["BatchLogRecordProcessor"]


# -- the pieces, in this process -------------------------------------------------------------


@pytest.fixture
def configurator_module() -> Iterator[types.ModuleType]:
    """A stand-in for a distro's configurator module that imported the stock processor."""
    module = types.ModuleType("distro_configurator_stand_in")
    sys.modules[module.__name__] = module
    exec(
        "from opentelemetry.sdk._logs.export import BatchLogRecordProcessor\n"
        "def load(entry_point):\n"
        "    return entry_point()\n",
        module.__dict__,
    )
    yield module
    del sys.modules[module.__name__]


def test_the_swap_changes_the_name_where_the_loader_looks_it_up(
    configurator_module: Any, moto_endpoint: str, group: str
) -> None:
    from otel_cwlogs import _entry

    loaded = configurator_module.load(lambda: _entry.CloudWatchLogExporter)
    assert loaded is CloudWatchLogExporter
    assert configurator_module.BatchLogRecordProcessor is not export.BatchLogRecordProcessor
    assert configurator_module.load(autoconfig.swap_batch_processor) == []  # idempotent

    ours = CloudWatchLogExporter(endpoint_url=moto_endpoint, log_group_name=group)
    processor = configurator_module.BatchLogRecordProcessor(exporter=ours)
    assert isinstance(processor, CloudWatchLogRecordProcessor)
    processor.shutdown()

    console = getattr(export, "ConsoleLogRecordExporter", None) or export.ConsoleLogExporter
    stock = configurator_module.BatchLogRecordProcessor(console())
    assert type(stock) is export.BatchLogRecordProcessor
    stock.shutdown()


def test_the_swap_is_off_when_the_variable_says_so(
    configurator_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(autoconfig.SWAP_VARIABLE, "false")
    assert configurator_module.load(autoconfig.swap_batch_processor) == []
    assert configurator_module.BatchLogRecordProcessor is export.BatchLogRecordProcessor


def test_an_invalid_swap_setting_is_reported_and_ignored(
    configurator_module: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(autoconfig.SWAP_VARIABLE, "perhaps")
    changed = configurator_module.load(autoconfig.swap_batch_processor)
    assert changed == [configurator_module.__name__]
    assert f"{autoconfig.SWAP_VARIABLE}='perhaps' is invalid" in caplog.text


class _EntryPoint:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize(
    ("installed", "named", "runs"),
    [
        (["cloudwatch_logs"], "", None),
        (["cloudwatch_logs", "configurator"], "", "configurator"),
        (["cloudwatch_logs", "aws_configurator", "configurator"], "", "aws_configurator"),
        (["configurator", "cloudwatch_logs"], "", "configurator"),
        (["cloudwatch_logs", "aws_configurator"], "cloudwatch_logs", None),
    ],
)
def test_the_configurator_hands_over_unless_named(
    monkeypatch: pytest.MonkeyPatch, installed: list[str], named: str, runs: str | None
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_CONFIGURATOR", named)
    monkeypatch.setattr(
        autoconfig, "entry_points", lambda group: [_EntryPoint(name) for name in installed]
    )
    chosen = autoconfig._configurator_to_run()
    assert (chosen.name if chosen is not None else None) == runs
