"""``opentelemetry-instrument`` support: the configurator entry point ``cloudwatch_logs``.

It runs the SDK's own auto-configuration, with two changes that make
``OTEL_LOGS_EXPORTER=cloudwatch_logs opentelemetry-instrument python app.py`` work as is:

- each ``CloudWatchLogExporter`` gets a :class:`CloudWatchLogRecordProcessor` instead of the
  stock ``BatchLogRecordProcessor`` (SDK 1.40+; other exporters keep the stock processor);
- when neither ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED`` is set nor
  ``opentelemetry-instrumentation-logging`` (whose instrumentor adds its own handler) is
  installed, the SDK's logging handler is put on the root logger, so records reach the
  exporter.

With another configurator installed too (``opentelemetry-distro`` has one), select this one
with ``OTEL_PYTHON_CONFIGURATOR=cloudwatch_logs``.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

from ._sdk import initialize_components
from .exporter import CloudWatchLogExporter
from .processor import CloudWatchLogRecordProcessor

HANDLER_VARIABLE = "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"


def processor_for(exporter: Any, *args: Any, **kwargs: Any) -> Any:
    """The processor for one configured log exporter."""
    if isinstance(exporter, CloudWatchLogExporter):
        return CloudWatchLogRecordProcessor(exporter)
    return BatchLogRecordProcessor(exporter, *args, **kwargs)


def wants_sdk_handler() -> bool | None:
    """True when nothing else will put a logging handler on the root logger."""
    if os.environ.get(HANDLER_VARIABLE, "").strip():
        return None  # the user decided; the SDK reads the variable itself
    return find_spec("opentelemetry.instrumentation.logging") is None


class CloudWatchConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator, with the CloudWatch-aware processor and a logging handler."""

    def _configure(self, **kwargs: Any) -> None:
        initialize_components(processor_for, wants_sdk_handler(), **kwargs)
