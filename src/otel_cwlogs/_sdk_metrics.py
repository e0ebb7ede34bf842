"""The SDK's self-observability metrics (``otel.sdk.*``), by the semantic conventions.

Recorded only when ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`` is true, the switch the SDK
uses for its own processors and exporters, so a dashboard built on the conventions shows this
package's processor and exporter beside the SDK's. The processor reports as a
``batching_log_processor`` (which it is); the exporter, which has no standard type, by its
class name, as the conventions ask of components they do not name. Component names are
``<type>/<n>``, numbered per type in this process. Everything CloudWatch-specific (retries by
cause, possible duplicates, drops by reason) stays in the ``otel_cwlogs.*`` metrics of
:mod:`._metrics`, which have no place in the conventions' instruments.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any, Callable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

SWITCH = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"
PROCESSOR_TYPE = "batching_log_processor"
EXPORTER_TYPE = "otel_cwlogs.CloudWatchLogExporter"
UNIT = "{log_record}"

_numbers: collections.Counter[str] = collections.Counter()
_numbers_lock = threading.Lock()


def enabled() -> bool:
    """Whether the switch is on (``true``, in any case), as the SDK reads it."""
    return os.environ.get(SWITCH, "").strip().lower() == "true"


def _component(component_type: str) -> dict[str, str]:
    with _numbers_lock:
        number = _numbers[component_type]
        _numbers[component_type] += 1
    return {
        "otel.component.type": component_type,
        "otel.component.name": f"{component_type}/{number}",
    }


def _meter(meter_provider: Any) -> Any:
    from . import __version__

    return (meter_provider or metrics.get_meter_provider()).get_meter("otel_cwlogs", __version__)


class ProcessorMetrics:
    """``otel.sdk.processor.log.*`` for one processor."""

    def __init__(
        self, meter_provider: Any, capacity: int, owner: object, queue_size: Callable[[Any], int]
    ) -> None:
        """``queue_size(owner)`` is read at collection time; the owner is held weakly."""
        meter = _meter(meter_provider)
        self._attributes = _component(PROCESSOR_TYPE)
        self._processed = meter.create_counter(
            "otel.sdk.processor.log.processed",
            unit=UNIT,
            description="Log records handed to the exporter, and those dropped (error.type).",
        )
        meter.create_up_down_counter(
            "otel.sdk.processor.log.queue.capacity",
            unit=UNIT,
            description="The most log records the processor's queue holds.",
        ).add(capacity, self._attributes)
        attributes = self._attributes
        ref = weakref.ref(owner)

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            target = ref()
            return [] if target is None else [Observation(queue_size(target), attributes)]

        meter.create_observable_up_down_counter(
            "otel.sdk.processor.log.queue.size",
            callbacks=[observe],
            unit=UNIT,
            description="Log records waiting in the processor's queue.",
        )

    def processed(self, count: int) -> None:
        self._processed.add(count, self._attributes)

    def dropped(self, count: int, error_type: str) -> None:
        self._processed.add(count, {**self._attributes, "error.type": error_type})


class ExporterMetrics:
    """``otel.sdk.exporter.log.*`` and ``otel.sdk.exporter.operation.duration`` for one
    exporter. One export operation is one ``export`` call (a stream's events, with all its
    requests and retries), or, under the processor, one attempt at one request; a record is
    counted as exported once its operation ends it: delivered, or failed for good."""

    def __init__(self, meter_provider: Any) -> None:
        meter = _meter(meter_provider)
        self._attributes = _component(EXPORTER_TYPE)
        self._inflight = meter.create_up_down_counter(
            "otel.sdk.exporter.log.inflight",
            unit=UNIT,
            description="Log records being exported.",
        )
        self._exported = meter.create_counter(
            "otel.sdk.exporter.log.exported",
            unit=UNIT,
            description="Log records exported, and those that failed (error.type).",
        )
        self._duration = meter.create_histogram(
            "otel.sdk.exporter.operation.duration",
            unit="s",
            description="How long export operations took.",
        )

    def start(self, count: int) -> float:
        self._inflight.add(count, self._attributes)
        return time.monotonic()

    def finish(
        self,
        started: float,
        count: int,
        exported: int,
        failed: dict[str, int],
        retried_for: str | None = None,
    ) -> None:
        """An operation over ``count`` records ended: ``exported`` delivered, ``failed`` by
        error type (the final cause). ``retried_for``: the operation failed for this cause,
        but its records are to be tried again, so they are not counted as exported yet."""
        self._inflight.add(-count, self._attributes)
        if exported:
            self._exported.add(exported, self._attributes)
        for error_type, number in failed.items():
            if number:
                self._exported.add(number, {**self._attributes, "error.type": error_type})
        attributes = self._attributes
        worst = max(failed, key=lambda key: failed[key]) if any(failed.values()) else retried_for
        if worst is not None:
            attributes = {**attributes, "error.type": worst}
        self._duration.record(time.monotonic() - started, attributes)

    def failed(self, count: int, error_type: str) -> None:
        """Records that failed before any request (they could not be encoded)."""
        self._exported.add(count, {**self._attributes, "error.type": error_type})
