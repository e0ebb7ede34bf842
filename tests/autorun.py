"""Runs an app under ``opentelemetry-instrument`` in a real subprocess.

The exporter's endpoint is a :class:`~tests.faultproxy.FaultProxy` in front of the emulator,
with a :class:`~tests.limits.Recorder`, so every PutLogEvents request the child sends is
checked against the real limits. The app ends by printing a report of what the
auto-configuration built: the configurators that ran, the log processors and root handlers,
the resource, the tracer provider's id generator, and the records each processor received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .conftest import read_events

INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"

BURST_LINES = 5000
BURST = f"""
    import logging
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("shop")
    for i in range({BURST_LINES}):
        log.info("line %05d of a tight loop", i)
"""
"""An app that logs ``BURST_LINES`` lines in a tight loop; ``BURST_EXPECTED`` are their bodies."""
BURST_EXPECTED = [f"line {i:05d} of a tight loop" for i in range(BURST_LINES)]

REPORT = """
    import json as _json, logging as _logging
    from opentelemetry import trace as _trace
    from opentelemetry._logs import get_logger_provider as _get
    from opentelemetry.util._importlib_metadata import entry_points as _entry_points

    _provider = _get()
    _multi = getattr(_provider, "_multi_log_record_processor", None)
    _processors = list(getattr(_multi, "_log_record_processors", ()))
    _configured = [
        e.name for e in _entry_points(group="opentelemetry_configurator")
        if e.load().__dict__.get("_instance") is not None
    ]
    _resource = getattr(_provider, "resource", None)
    print("REPORT " + _json.dumps({
        "configured": _configured,
        "processors": [type(p).__name__ for p in _processors],
        "handlers": [type(h).__module__ for h in _logging.getLogger().handlers],
        "resource": dict(_resource.attributes) if _resource is not None else {},
        "id_generator": type(getattr(_trace.get_tracer_provider(), "id_generator", None)).__name__,
        "received": [p.stats().received for p in _processors if hasattr(p, "stats")],
    }, default=str), flush=True)
"""


def instrument(
    app: str, endpoint: str, group: str, *, stream: str = "app", **env: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run ``app`` (source text) under ``opentelemetry-instrument``; (result, report).

    ``env`` adds variables; a value of ``"<unset>"`` removes one.
    """
    full_env = {
        **os.environ,
        "OTEL_LOGS_EXPORTER": "cloudwatch_logs",
        "OTEL_SERVICE_NAME": "shop",
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": endpoint,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": stream,
        **env,
    }
    full_env = {k: v for k, v in full_env.items() if v != "<unset>"}
    code = textwrap.dedent(app) + textwrap.dedent(REPORT)
    result = subprocess.run(
        [str(INSTRUMENT), sys.executable, "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, (result.stdout, result.stderr)
    return result, json.loads(lines[-1][len("REPORT ") :])


CONTRIB_NOTICE = (
    "Skipping installation of LoggingHandler from `opentelemetry-instrumentation-logging`"
)
"""What the contrib logging instrumentation (when installed) logs at start-up when the SDK's
handler is turned on by ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``: its own warning
about that flag, there with this package or without it."""


def app_stream(logs: Any, group: str, flag: str = "<unset>", stream: str = "app") -> list[Any]:
    """Every body stored in a stream, in stored order, but :data:`CONTRIB_NOTICE` (first,
    and only when the handler ``flag`` is set and the contrib instrumentation installed)."""
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, stream)]
    contrib = find_spec("opentelemetry.instrumentation.logging") is not None
    if flag == "true" and contrib and bodies and str(bodies[0]).startswith(CONTRIB_NOTICE):
        return bodies[1:]
    return bodies


def ours(line: str) -> bool:
    """A line (of stderr) that speaks of this package."""
    return "cloudwatch_logs" in line or "otel_cwlogs" in line


def app_bodies(logs: Any, group: str, expected: list[str], stream: str = "app") -> list[str]:
    """The bodies stored in a stream that are among ``expected``, in stored order.

    Other records (instrumentations and the auto-instrumentation loader log at start-up)
    are left out; a record the app wrote twice is there twice.
    """
    wanted = set(expected)
    docs = [json.loads(e["message"]) for e in read_events(logs, group, stream)]
    return [d["body"] for d in docs if isinstance(d.get("body"), str) and d["body"] in wanted]


def otel_handlers(report: dict[str, Any]) -> list[str]:
    """The modules of the root logger's OpenTelemetry handlers (this package's among them)."""
    return [h for h in report["handlers"] if h.startswith(("opentelemetry", "otel_cwlogs"))]
