"""Ship OpenTelemetry log records to AWS CloudWatch Logs with PutLogEvents."""

from __future__ import annotations

from .errors import ConfigError
from .exporter import CloudWatchLogExporter, ExporterStats

__all__ = ["CloudWatchLogExporter", "ConfigError", "ExporterStats"]
__version__ = "0.1.0"
