"""Manual setup: LoggerProvider + processor + CloudWatchLogExporter + logging handler.

Run against AWS with credentials and a region configured, or against a local emulator:

    export OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL=http://127.0.0.1:5000
    python examples/manual_setup.py
"""

from __future__ import annotations

import logging

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, LoggingHandler


def main() -> None:
    resource = Resource.create({"service.name": "example-shop", "deployment.environment": "dev"})
    provider = LoggerProvider(resource=resource)
    exporter = CloudWatchLogExporter(retention_in_days=7)  # group: /otel/example-shop
    provider.add_log_record_processor(CloudWatchLogRecordProcessor(exporter))
    logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))
    logging.getLogger().setLevel(logging.INFO)

    log = logging.getLogger("example.shop")
    log.info("shop started")
    log.warning("stock low", extra={"sku": "A-42", "left": 3})
    provider.shutdown()
    print(exporter.stats())


if __name__ == "__main__":
    main()
