"""The exporter's and the processor's counters as OpenTelemetry metrics.

Observable instruments read a stats snapshot at collection time, so counting costs the
pipeline nothing extra. With no ``meter_provider`` given, the global one is used (a no-op
until the application sets one, then bound to it).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Callable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

Read = Callable[[Any], Any]


def observe(
    owner: object,
    meter_provider: Any,
    instruments: Mapping[str, tuple[str, str, Read]],
) -> None:
    """Register one observable counter per entry: name -> (unit, attribute, read).

    ``read(owner)`` returns a number (no attribute) or a mapping of attribute value ->
    number (``attribute`` names it, e.g. ``reason``). The owner is held weakly.
    """
    from . import __version__

    provider = meter_provider or metrics.get_meter_provider()
    meter = provider.get_meter("otel_cwlogs", __version__)
    ref = weakref.ref(owner)

    def callback(read: Read, attribute: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observations(options: CallbackOptions) -> Iterable[Observation]:
            target = ref()
            if target is None:
                return []
            value = read(target)
            if isinstance(value, Mapping):
                return [Observation(count, {attribute: key}) for key, count in value.items()]
            return [Observation(value)]

        return observations

    for name, (unit, attribute, read) in instruments.items():
        meter.create_observable_counter(name, callbacks=[callback(read, attribute)], unit=unit)
