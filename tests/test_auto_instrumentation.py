"""`opentelemetry-instrument` end to end, in real subprocesses, against the emulator.

These run in every tox env. Where no distro is installed (no configurator at all), this
package's post-instrument hook runs the SDK's configuration; ``test_distros.py`` runs the same
under ``opentelemetry-distro`` and ADOT, and the tests here that are not marked
``without_distro`` run there too.
"""

from __future__ import annotations

import re
import sys
import textwrap
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import export
from opentelemetry.util._importlib_metadata import entry_points

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, autoconfig

from .autorun import (
    BURST,
    BURST_EXPECTED,
    BURST_LINES,
    app_bodies,
    app_stream,
    instrument,
    otel_handlers,
    ours,
)
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


CONFIGURATORS = [e.name for e in entry_points(group="opentelemetry_configurator")]
without_distro = pytest.mark.skipif(
    bool(CONFIGURATORS),
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
    assert report["configured"] == []  # no configurator is installed: the hook ran the SDK's
    assert report["id_generator"] == "RandomIdGenerator"
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert otel_handlers(report) == ["otel_cwlogs.handler"]
    assert recorder.requests


@without_distro
@pytest.mark.parametrize("flag", ["<unset>", "true"], ids=["flag-unset", "flag-set"])
def test_a_burst_arrives_whole_and_in_order(
    checked: str, logs: Any, group: str, recorder: Recorder, flag: str
) -> None:
    result, report = instrument(
        BURST, checked, group, OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=flag
    )
    delivered = app_stream(logs, group, flag)
    print(f"instrumentation only, flag {flag}: {len(delivered)} of {BURST_LINES} delivered")
    assert delivered == BURST_EXPECTED  # exactly the app's records
    assert not [line for line in result.stderr.splitlines() if ours(line)], result.stderr
    assert report["configured"] == []
    assert report["processors"] == ["CloudWatchLogRecordProcessor"]
    assert otel_handlers(report) == ["otel_cwlogs.handler"]
    assert recorder.requests


@without_distro
def test_the_switch_keeps_the_sdks_handler(
    checked: str, logs: Any, group: str, recorder: Recorder
) -> None:
    result, report = instrument(
        APP,
        checked,
        group,
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        OTEL_EXPORTER_CLOUDWATCH_LOGS_FAST_HANDLER="false",
    )
    assert "app done" in result.stdout
    assert app_bodies(logs, group, APP_LINES) == APP_LINES
    (handler,) = otel_handlers(report)
    assert handler.startswith("opentelemetry.")


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
    assert otel_handlers(report) == []
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
    assert issubclass(loaded, CloudWatchLogExporter)  # the SDK checks it is an exporter class
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
    ("installed", "named", "ran"),
    [
        ([], "", False),
        (["configurator"], "", True),
        (["aws_configurator", "configurator"], "", True),
        (["aws_configurator", "configurator"], "configurator", True),
        (["configurator"], "cloudwatch_logs", False),  # named by an older release's docs
    ],
)
def test_the_sdk_is_configured_by_the_hook_only_when_no_configurator_ran(
    monkeypatch: pytest.MonkeyPatch, installed: list[str], named: str, ran: bool
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_CONFIGURATOR", named)
    monkeypatch.setattr(
        autoconfig, "entry_points", lambda group: [_EntryPoint(name) for name in installed]
    )
    assert autoconfig._a_configurator_ran() is ran


def test_an_exporter_the_environment_cannot_make_is_a_stand_in_that_counts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_cwlogs import _entry
    from otel_cwlogs.unconfigured import UnconfiguredExporter

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    exporter = _entry.CloudWatchLogExporter()
    assert isinstance(exporter, UnconfiguredExporter)
    (said,) = caplog.messages
    assert said.startswith("cloudwatch_logs: region_name=None is invalid: no AWS region")
    assert "no logs are shipped to CloudWatch" in said
    exporter.export([object(), object()])
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.undeliverable == 2
    assert caplog.messages[1:] == [
        "cloudwatch_logs: 2 log records were not shipped, as said at start"
    ]
    with pytest.raises(ValueError, match="region_name"):
        CloudWatchLogExporter()  # a manual set-up still gets the error


PROBE = {
    "probe_instrumentor.py": """
        from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

        class ProbeInstrumentor(BaseInstrumentor):
            def instrumentation_dependencies(self):
                return []

            def _instrument(self, **kwargs):
                print("PROBE INSTRUMENTED", flush=True)

            def _uninstrument(self, **kwargs):
                pass
    """,
    "probe_instrumentor-1.0.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: probe-instrumentor
        Version: 1.0
        Provides-Extra: instruments
    """,
    "probe_instrumentor-1.0.dist-info/entry_points.txt": """
        [opentelemetry_instrumentor]
        probe = probe_instrumentor:ProbeInstrumentor
    """,
}

SPAN_APP = """
    import logging
    from opentelemetry import trace
    logging.getLogger().setLevel(logging.INFO)
    with trace.get_tracer("probe").start_as_current_span("probe-span"):
        logging.getLogger("shop").info("inside a span")
    for number in range(2999):  # more than a batch processor's queue holds
        logging.getLogger("shop").info("line %d", number)
    print("app done")
"""


def test_no_region_costs_the_logs_and_nothing_else(group: str, tmp_path: Any) -> None:
    for name, text in PROBE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    result, report = instrument(
        SPAN_APP,
        "http://127.0.0.1:9",
        group,
        PYTHONPATH=str(tmp_path),
        AWS_DEFAULT_REGION="<unset>",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
    )
    assert "PROBE INSTRUMENTED" in result.stdout  # the instrumentors were loaded
    assert '"name": "probe-span"' in result.stdout  # traces were set up and exported
    assert "Traceback" not in result.stderr
    about_region = [line for line in result.stderr.splitlines() if "region" in line]
    assert len(about_region) == 1, result.stderr
    assert about_region[0].startswith("otel_cwlogs: ERROR: cloudwatch_logs: region_name=None")
    assert "AWS_REGION or AWS_DEFAULT_REGION" in about_region[0]
    counted = re.search(
        r"^otel_cwlogs: ERROR: cloudwatch_logs: (\d+) log records were not shipped, as said at "
        r"start$",
        result.stderr,
        re.MULTILINE,
    )
    assert counted is not None, result.stderr
    assert int(counted[1]) == 3000  # every record, none lost uncounted in a queue
    assert report["processors"] == ["CountingProcessor"]  # the stand-in's
