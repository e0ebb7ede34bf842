"""Structured logging: extra attributes, and trace correlation inside a span.

A record logged inside a span carries that span's trace_id and span_id, so Logs Insights can
show every log line of one trace:

    fields @timestamp, body | filter trace_id = "<trace id>" | sort @timestamp

Run against AWS (credentials and a region configured) or a local emulator:

    export OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL=http://127.0.0.1:5000
    python examples/structured_logging.py
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, LoggingHandler


def main() -> None:
    resource = Resource.create({"service.name": "example-payments"})
    trace.set_tracer_provider(TracerProvider(resource=resource))
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(CloudWatchLogRecordProcessor(CloudWatchLogExporter()))
    handler = LoggingHandler(logger_provider=provider)
    log = logging.getLogger("example.payments")
    log.setLevel(logging.INFO)
    log.addHandler(handler)

    tracer = trace.get_tracer("example.payments")
    with tracer.start_as_current_span("charge") as span:
        log.info(
            "charged card",
            extra={"payment.amount": 42.5, "payment.currency": "EUR", "customer.tier": "gold"},
        )
        context = span.get_span_context()
        print(f"trace_id={context.trace_id:032x} span_id={context.span_id:016x}")
    log.info("outside any span")
    provider.shutdown()


if __name__ == "__main__":
    main()
