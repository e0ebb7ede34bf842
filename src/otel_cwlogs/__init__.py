"""Ship OpenTelemetry log records to AWS CloudWatch Logs with PutLogEvents."""

from __future__ import annotations

from .errors import ConfigError
from .exporter import CloudWatchLogExporter, ExporterStats
from .handler import LoggingHandler
from .processor import CloudWatchLogRecordProcessor, ProcessorStats

__all__ = [
    "CloudWatchLogExporter",
    "CloudWatchLogRecordProcessor",
    "ConfigError",
    "ExporterStats",
    "LoggingHandler",
    "ProcessorStats",
]
__version__ = "0.1.0"
