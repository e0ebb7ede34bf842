"""The exporter auto-configuration gets when the settings cannot make a real one.

``opentelemetry-instrument`` makes the exporter with no arguments, from the environment, in
the middle of the SDK's configuration: an exception there would end that configuration, and
with it the loading of every instrumentor. So when the environment cannot make a
:class:`~otel_cwlogs.CloudWatchLogExporter` (no region, an invalid value, a profile that does
not exist), :func:`exporter_from_environment` makes an :class:`UnconfiguredExporter` instead:
it says once, in one line, what is wrong; it counts each record it is given as undeliverable
(under ``opentelemetry-instrument``, through :class:`CountingProcessor`, as it is logged);
and at shutdown it says how many there were. Traces, metrics and instrumentation carry on as
without this package. A manual set-up that passes an invalid argument still gets the
``ValueError``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ._diag import logger
from ._guard import exporting, guarded
from ._sdk import ExporterBase, ExportResult, ProcessorBase
from .errors import ConfigError
from .exporter import CloudWatchLogExporter


def exporter_from_environment(*args: Any, **kwargs: Any) -> Any:
    """A :class:`CloudWatchLogExporter`, or an :class:`UnconfiguredExporter` saying why not."""
    try:
        return CloudWatchLogExporter(*args, **kwargs)
    except ConfigError as error:
        return UnconfiguredExporter(str(error).removeprefix("otel_cwlogs: "))
    except Exception as error:
        problem = f"the exporter could not be made ({type(error).__name__}: {error})"
        return UnconfiguredExporter(problem)


class UnconfiguredExporter(ExporterBase):
    """Ships nothing: counts what it is given, and says so."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.undeliverable = 0
        """Records given to it so far."""
        self._lock = threading.Lock()
        self._said_at_shutdown = False
        logger.error(
            "cloudwatch_logs: %s; no logs are shipped to CloudWatch (every record is counted "
            "as undeliverable)",
            problem,
        )

    def count(self, records: int) -> None:
        with self._lock:
            self.undeliverable += records

    def export(self, batch: Sequence[Any]) -> ExportResult:
        self.count(len(batch))
        return ExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return True

    @guarded  # its line is the package's: kept out of the pipeline it speaks of
    def shutdown(self, timeout_millis: float = 30_000) -> None:
        with self._lock:
            count, said, self._said_at_shutdown = self.undeliverable, self._said_at_shutdown, True
        if count and not said:
            logger.error(
                "cloudwatch_logs: %d log records were not shipped, as said at start", count
            )


class CountingProcessor(ProcessorBase):
    """What drives the stand-in under ``opentelemetry-instrument``: each record counted as
    it is logged (no queue to drop a burst uncounted, no thread, nothing said per record)."""

    def __init__(self, exporter: UnconfiguredExporter) -> None:
        self.exporter = exporter

    def on_emit(self, log_record: Any) -> None:
        if not exporting():
            self.exporter.count(1)

    emit = on_emit  # SDK <= 1.34 calls emit()

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
