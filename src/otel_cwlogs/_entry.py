"""The target of the ``cloudwatch_logs`` entry point in ``opentelemetry_logs_exporter``.

The SDK's auto-configuration (and a distro's copy of it) loads the exporter class through
that entry point just before it wraps each exporter in a processor. Every load asks for
``CloudWatchLogExporter`` here, and this module serves it from :func:`__getattr__`, so each
load first puts :func:`~otel_cwlogs.autoconfig.swap_batch_processor` in place in the modules
of the configurator doing the loading. What it serves makes the exporter from the environment,
or, when the settings cannot, the stand-in of :mod:`otel_cwlogs.unconfigured`: a problem of
this package's never ends the SDK's configuration.
"""

from __future__ import annotations

from typing import Any

from .autoconfig import swap_batch_processor
from .exporter import CloudWatchLogExporter as _Exporter
from .unconfigured import exporter_from_environment


class FromEnvironment(_Exporter):
    """Calling the class makes a :class:`~otel_cwlogs.CloudWatchLogExporter`, or an
    :class:`~otel_cwlogs.unconfigured.UnconfiguredExporter` that says why not."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return exporter_from_environment(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name != "CloudWatchLogExporter":
        raise AttributeError(name)
    swap_batch_processor()
    return FromEnvironment
