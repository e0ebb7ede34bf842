"""What a user pays per event, for each choice of what the events carry.

    python benchmarks/cost.py

CloudWatch bills ingestion per GB of event bytes: each event's UTF-8 message bytes plus 26.
This encodes two records as the exporter would, through the SDK's own logging pipeline, with
the resource ``opentelemetry-instrument`` builds (``OTEL_SERVICE_NAME=demo-shop``): the demo's
first line, and a 110-byte line like the benchmark's. For each layout (``message_format``) and
setting of ``event_resource_attributes`` / ``event_code_attributes`` it prints the bytes per
event and the price per million events, at the us-east-1 list prices for ingestion: $0.50 per
GB for the Standard log class, $0.25 per GB for Infrequent Access (AWS's public price list,
November 2026). The ``code.file.path`` attribute is this file's path: the bytes of the rows
that carry it grow with its length (the docs measure it as
``/home/demo/benchmarks/cost.py``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

PRICES = {"Standard": 0.50, "Infrequent Access": 0.25}
"""Dollars per GB ingested, us-east-1."""

LINES = {
    "demo line": "checkout service started",
    "110-byte line": ("0001234 user order paid cache miss GET /api/v1/items 200 ms " * 3)[:110],
}

CHOICES = [
    ("all (default, the Collector's layout)", "json", "all", True),
    ("all, no code.* attributes", "json", "all", False),
    ("service.name only", "json", "service.name", True),
    ("service.name only, no code.*", "json", "service.name", False),
    ("none, no code.*", "json", "none", False),
    ("`otlp` layout (CloudWatch's OTLP), all", "otlp", "all", True),
    ("`otlp` layout, service.name only, no code.*", "otlp", "service.name", False),
    ("`otlp` layout, none, no code.*", "otlp", "none", False),
    ("`body` layout (the body alone)", "body", "all", True),
]


def records(lines: Sequence[str]) -> list[Any]:
    """Batch items from logging calls, through the SDK, with an auto-instrumented resource."""
    from opentelemetry.instrumentation.version import __version__ as auto_version
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler, export
    from opentelemetry.sdk.resources import Resource

    # the SDK's own in-memory exporter, under its newer name where the SDK has it
    in_memory = getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter
    keep = in_memory()
    resource = Resource.create(
        {"telemetry.auto.version": auto_version, "service.instance.id": str(uuid.uuid4())}
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(export.SimpleLogRecordProcessor(keep))
    logger = logging.getLogger("shop")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=provider))
    for line in lines:
        logger.info(line)
    provider.shutdown()
    return list(keep.get_finished_logs())


def main() -> None:
    os.environ.setdefault("OTEL_SERVICE_NAME", "demo-shop")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    from otel_cwlogs import CloudWatchLogExporter

    items = records(list(LINES.values()))
    header = "| what each event carries | " + " | ".join(
        f"{name}: bytes, $/million (Standard / IA)" for name in LINES
    )
    print(header + " |")
    print("|---" * (len(LINES) + 1) + "|")
    for label, layout, resource, code in CHOICES:
        exporter = CloudWatchLogExporter(
            log_group_name="/cost",
            message_format=layout,
            event_resource_attributes=resource,
            event_code_attributes=code,
        )
        cells = []
        for item in items:
            (events,) = exporter.encode([item], int(time.time() * 1000)).values()
            size = sum(size for _, _, size in events)
            prices = " / ".join(f"{size * 1e6 / 1e9 * price:.4f}" for price in PRICES.values())
            cells.append(f"{size} B, {prices}")
        exporter.shutdown()
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
