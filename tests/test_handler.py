"""``otel_cwlogs.LoggingHandler``: the SDK handler's records, with no deprecation warning."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import LoggingHandler as SdkLoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from otel_cwlogs import LoggingHandler
from otel_cwlogs._guard import is_otel_handler
from otel_cwlogs._sdk import view

from .records import Capture


def emitted(handler_class: Any) -> list[tuple[Any, ...]]:
    capture = Capture()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(capture))
    log = logging.getLogger(f"tests.handler.{handler_class.__module__}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = handler_class(logger_provider=provider)
    log.addHandler(handler)
    try:
        log.info("order %s paid", 42, extra={"tenant": "acme", "n": 3})
        log.warning({"a": 1})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        provider.shutdown()
    views = [view(item) for item in capture.items]
    return [(v.body, v.severity_number, v.severity_text, dict(v.attributes)) for v in views]


def test_it_emits_what_the_sdks_handler_emits_and_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LoggingHandler()
    ours, theirs = emitted(LoggingHandler), emitted(SdkLoggingHandler)
    assert len(ours) == 3
    assert ours == theirs
    assert is_otel_handler(LoggingHandler())
