"""``otel_cwlogs.LoggingHandler``: the standard library's records into a logger provider.

The SDK's handler (its arguments, its translation of a record into an OpenTelemetry record,
its ``flush()`` and ``close()``), without the deprecation warning the SDK's class gives from
SDK 1.40 in favour of the one in ``opentelemetry-instrumentation-logging``: a handler that
feeds :class:`~otel_cwlogs.CloudWatchLogRecordProcessor` needs no other package.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from opentelemetry.sdk._logs import LoggingHandler as _SdkLoggingHandler


class LoggingHandler(_SdkLoggingHandler):
    """Emits each record to ``logger_provider`` (the global one when None), as the SDK's
    ``LoggingHandler`` does."""

    def __init__(self, level: int = logging.NOTSET, logger_provider: Any = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(level=level, logger_provider=logger_provider)
