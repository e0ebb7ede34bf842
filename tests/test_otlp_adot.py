"""The ``otlp`` layout against the exporter it follows: ADOT's CompactConsoleLogRecordExporter.

Run by the tox env ``py311-adot``. One logger provider hands every record to both exporters:
ADOT's writes lines to a buffer, ours sends them to the emulator with
``message_format="otlp"``; the events read back must equal ADOT's lines after JSON parsing,
record for record.
"""

from __future__ import annotations

import io
import json
import logging
import math
import uuid
import warnings
from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any, Callable

import boto3
import pytest

from otel_cwlogs import CloudWatchLogExporter

from .conftest import read_events
from .limits import Recorder

ADOT = find_spec("amazon") is not None and find_spec("amazon.opentelemetry.distro") is not None

pytestmark = pytest.mark.skipif(
    not ADOT, reason="needs aws-opentelemetry-distro: tox -e py311-adot"
)

EVERY_TYPE = {
    "str": "text",
    "int": -7,
    "float": 2.5,
    "whole_float": 3.0,
    "bool": True,
    "strs": ["a", "b"],
    "ints": (1, 2, 3),
    "floats": [0.5, 1e-07, 1e21],
    "bools": (False, True),
    "empty": [],
}


def plain(log: logging.Logger) -> None:
    log.warning("checkout service started")


def args(log: logging.Logger) -> None:
    log.info("order %s paid %d in %.1f s", "A-17", 42, 0.25)


def dict_body(log: logging.Logger) -> None:
    log.info({"order": "A-17", "items": [1, 2.5, None, {"gift": True}], "note": ""})


def attributes_of_every_type(log: logging.Logger) -> None:
    log.error("every type", extra=EVERY_TYPE)


def in_a_span(log: logging.Logger) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    with TracerProvider().get_tracer("shop").start_as_current_span("pay"):
        log.critical("payment failed")


def an_exception(log: logging.Logger) -> None:
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")


def unicode(log: logging.Logger) -> None:
    log.info('héllo 日本語 😀 \u2028 \x00 "quoted" \\', extra={"città": "Zürich"})


def an_int_body(log: logging.Logger) -> None:
    log.info(42)


def no_body(log: logging.Logger) -> None:
    log.info(None)


def a_list_body(log: logging.Logger) -> None:
    log.info([1, "two", [3.5, False]])


def a_custom_level(log: logging.Logger) -> None:
    log.log(25, "between info and warning")


def dropped_attributes(log: logging.Logger) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log.info("too many", extra={f"k{i:03d}": i for i in range(130)})


KINDS: list[Callable[[logging.Logger], None]] = [
    plain,
    args,
    dict_body,
    attributes_of_every_type,
    in_a_span,
    an_exception,
    unicode,
    an_int_body,
    no_body,
    a_list_body,
    a_custom_level,
    dropped_attributes,
]


@pytest.fixture
def both(
    session: boto3.session.Session, moto_endpoint: str, group: str
) -> Iterator[tuple[logging.Logger, Any, io.StringIO]]:
    """A logger whose records go to ADOT's compact exporter (lines in the buffer) and to ours
    (events in ``group``), and an SDK logger of a versioned scope on the same provider."""
    from amazon.opentelemetry.distro.exporter.console.logs.compact_console_log_exporter import (
        CompactConsoleLogRecordExporter,
    )
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    buffer = io.StringIO()
    ours = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="s",
        message_format="otlp",
    )
    resource = Resource.create(
        {"service.name": "checkout", "host.cores": 8, "tags": ("a", "b")},
        schema_url="https://opentelemetry.io/schemas/1.26.0",
    )
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(CompactConsoleLogRecordExporter(out=buffer))
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(ours))
    log = logging.getLogger(f"tests.otlp.{uuid.uuid4().hex}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    handler = LoggingHandler(logger_provider=provider)
    log.addHandler(handler)
    scoped = provider.get_logger("shop.orders", "1.4.2", schema_url="https://example.com/s")
    try:
        yield log, scoped, buffer
    finally:
        log.removeHandler(handler)
        provider.shutdown()


def test_events_equal_the_compact_exporters_lines(
    both: tuple[logging.Logger, Any, io.StringIO], logs: Any, group: str, recorder: Recorder
) -> None:
    from opentelemetry._logs import LogRecord, SeverityNumber

    log, scoped, buffer = both
    for kind in KINDS:
        kind(log)
    # no timestamp and no severity; then a versioned scope with a schema and a severity
    scoped.emit(LogRecord(body="from the API", attributes={"n": 1}))
    scoped.emit(LogRecord(body={"a": [1]}, severity_number=SeverityNumber.INFO2))

    theirs = buffer.getvalue().splitlines()
    events = read_events(logs, group, "s")
    sent = [e["message"] for request in recorder.requests for e in request["logEvents"]]
    assert len(theirs) == len(events) == len(KINDS) + 2
    assert {e["message"] for e in events} <= set(sent)  # each checked by the recorder
    for line, event in zip(theirs, events):
        assert json.loads(event["message"]) == json.loads(line)
        # the same text too, but for the non-ASCII characters ADOT writes as \u escapes
        assert json.dumps(json.loads(event["message"]), separators=(",", ":")) == line
    documents = [json.loads(line) for line in theirs]
    assert documents[4]["traceId"]
    assert documents[4]["flags"]
    assert documents[11]["droppedAttributes"] > 0
    assert documents[-2]["timeUnixNano"] == 0
    assert documents[-1]["scope"]["schemaUrl"] == "https://example.com/s"


def test_where_the_two_differ(
    both: tuple[logging.Logger, Any, io.StringIO], logs: Any, group: str
) -> None:
    """As docs/layouts.md says: ADOT writes NaN as a bare ``NaN`` (not JSON) and gives up
    its layout for a record with bytes (the SDK's ``to_json`` instead); this package writes
    ``"NaN"`` and bytes as base64 text, in the same layout as every other record."""
    log, _, buffer = both
    log.info("not a number", extra={"ratio": math.nan})
    log.info("bytes", extra={"digest": b"\x00\x01\xff"})
    nan_line, bytes_line = buffer.getvalue().splitlines()
    nan_event, bytes_event = (json.loads(e["message"]) for e in read_events(logs, group, "s"))
    assert '"ratio":NaN' in nan_line
    assert nan_event["attributes"]["ratio"] == "NaN"
    assert "severity_number" in json.loads(bytes_line)  # the SDK's layout
    assert bytes_event["attributes"]["digest"] == "AAH/"
    assert bytes_event["severityText"] == "INFO"
