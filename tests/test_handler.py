"""``otel_cwlogs.LoggingHandler``: the SDK handler's CloudWatch events, record for record.

Both handlers sit on one logger, each with its own provider and processor writing to its own
stream; the events read back are compared (timestamps, and messages parsed as JSON: the
``json`` layout has no observed timestamp, the one field the two handlers take apart).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import LoggingHandler as SdkLoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, LoggingHandler
from otel_cwlogs._guard import guarded, is_otel_handler
from otel_cwlogs._sdk import view

from .conftest import read_events
from .records import Capture


class Pipeline:
    """A provider with our processor over our exporter to one stream, and a handler."""

    def __init__(
        self,
        handler_class: Any,
        session: Any,
        endpoint: str,
        group: str,
        stream: str,
        *others: Any,
    ) -> None:
        self.stream, self.group = stream, group
        exporter = CloudWatchLogExporter(
            session=session, endpoint_url=endpoint, log_group_name=group, log_stream_name=stream
        )
        self.processor = CloudWatchLogRecordProcessor(exporter, schedule_delay_millis=50)
        self.provider = LoggerProvider(resource=Resource.create({"service.name": "eq"}))
        self.provider.add_log_record_processor(self.processor)
        for other in others:
            self.provider.add_log_record_processor(other)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.handler = handler_class(logger_provider=self.provider)


class Pair:
    """The SDK's handler and ours on one logger."""

    def __init__(self, session: Any, endpoint: str, logs: Any, group: str) -> None:
        self.logs, self.group = logs, group
        self.sdk = Pipeline(SdkLoggingHandler, session, endpoint, group, "sdk")
        self.ours = Pipeline(LoggingHandler, session, endpoint, group, "ours")
        self.log = logging.getLogger(f"tests.handler.{uuid.uuid4().hex[:8]}")
        self.log.propagate = False
        self.log.setLevel(1)
        self.log.addHandler(self.sdk.handler)
        self.log.addHandler(self.ours.handler)

    def events(self) -> tuple[list[Any], list[Any]]:
        for pipeline in (self.sdk, self.ours):
            assert pipeline.provider.force_flush(60_000)
        return tuple(  # type: ignore[return-value]
            [
                (e["timestamp"], json.loads(e["message"]))
                for e in read_events(self.logs, self.group, p.stream)
            ]
            for p in (self.sdk, self.ours)
        )

    def close(self) -> None:
        for pipeline in (self.sdk, self.ours):
            self.log.removeHandler(pipeline.handler)
            pipeline.provider.shutdown()


@pytest.fixture
def pair(session: Any, moto_endpoint: str, logs: Any, group: str) -> Iterator[Pair]:
    p = Pair(session, moto_endpoint, logs, group)
    yield p
    p.close()


def assert_same(pair: Pair, count: int) -> list[Any]:
    theirs, ours = pair.events()
    assert len(theirs) == count
    for sdk_event, our_event in zip(theirs, ours):
        assert our_event == sdk_event
    assert len(ours) == len(theirs)
    for pipeline in (pair.sdk, pair.ours):
        stats = pipeline.processor.stats()
        assert stats.received == stats.exporter.delivered == count
    return ours


class Opaque:
    """Not a valid attribute value."""

    def __str__(self) -> str:
        return "opaque!"


class Template:
    """A message that is not a string, with a placeholder in its text."""

    def __str__(self) -> str:
        return "template %s"


EXTRAS: dict[str, Any] = {
    "s": "text",
    "i": 7,
    "big": 2**70,
    "f": 1.5,
    "nan": math.nan,
    "inf": -math.inf,
    "b": True,
    "none": None,
    "bytes": b"\x00\xffab",
    "list": [1, "two", 3.0],
    "mixed_list": [1, {"a": 1}],
    "tuple": (1, 2),
    "dict": {"k": [1, {"deep": "x"}]},
    "set": {1},
    "obj": Opaque(),
    "empty": "",
    "surrogate": "\ud800x",
}


def test_records_of_every_kind_are_the_same_events(pair: Pair) -> None:
    logging.addLevelName(25, "NOTICE")
    tracer = TracerProvider().get_tracer("tests")
    log = pair.log
    log.info("plain")
    log.info("order %s paid %d", "a1", 42)
    log.info("%(who)s paid %(n)d", {"who": "bob", "n": 3})
    log.warning({"a": 1, "b": [1, 2]})
    log.error(12)
    log.critical(None)
    log.info(["x", 1])
    log.info(Opaque())
    log.info(Template(), "x")
    log.log(25, "custom level")
    log.log(5, "below debug")
    log.log(1, "level one")
    log.log(60, "above critical")
    log.info("extras", extra=EXTRAS)
    log.info("a non-str key", extra={"": 1})
    try:
        raise ValueError("boom", 2)
    except ValueError:
        log.exception("failed")
    try:
        raise KeyError
    except KeyError:
        log.error("no args", exc_info=True)
    log.info("with stack", stack_info=True)
    with tracer.start_as_current_span("outer"):
        log.info("in outer")
        with tracer.start_as_current_span("inner"):
            log.info("in inner")
    log.info("unicode: é 日本 🎉 and a lone \udc80 surrogate")
    log.info("x" * 300_000)
    ours = assert_same(pair, 22)
    traced = [doc for _, doc in ours if str(doc.get("body")).startswith("in ")]
    assert len(traced) == 2
    assert traced[0]["trace_id"] == traced[1]["trace_id"]
    assert traced[0]["span_id"] != traced[1]["span_id"]


def test_a_formatter_on_the_handler_makes_the_same_bodies(pair: Pair) -> None:
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    pair.sdk.handler.setFormatter(formatter)
    pair.ours.handler.setFormatter(formatter)
    pair.log.info("formatted %s", 1)
    try:
        raise RuntimeError("x")
    except RuntimeError:
        pair.log.exception("with a traceback")
    pair.log.info("stack", stack_info=True)
    assert_same(pair, 3)


def test_filters_and_logging_disable_apply_as_to_the_sdks_handler(pair: Pair) -> None:
    for pipeline in (pair.sdk, pair.ours):
        pipeline.handler.addFilter(lambda record: "secret" not in record.getMessage())
        pipeline.handler.setLevel(logging.INFO)
    pair.log.info("kept")
    pair.log.info("a secret")
    pair.log.debug("below the handler's level")
    logging.disable(logging.WARNING)
    try:
        pair.log.warning("disabled")
    finally:
        logging.disable(logging.NOTSET)
    pair.log.error("kept too")
    ours = assert_same(pair, 2)
    assert [doc["body"] for _, doc in ours] == ["kept", "kept too"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="filters may replace records from 3.12")
def test_a_filter_that_replaces_the_record_is_followed(pair: Pair) -> None:
    def redact(record: logging.LogRecord) -> logging.LogRecord:
        replaced = logging.makeLogRecord(record.__dict__)
        replaced.msg, replaced.args = "redacted", ()
        return replaced

    for pipeline in (pair.sdk, pair.ours):
        pipeline.handler.addFilter(redact)
    pair.log.info("card %s", "4111")
    ours = assert_same(pair, 1)
    assert [doc["body"] for _, doc in ours] == ["redacted"]


def test_the_packages_own_records_are_refused_wherever_the_handler_is(pair: Pair) -> None:
    """Records made during the package's own work never enter a pipeline through our
    handler, on any logger, for any processor (the SDK's handler needs the package's filter,
    put on the root logger's handlers only)."""
    capture = Capture()
    pair.ours.provider.add_log_record_processor(SimpleLogRecordProcessor(capture))
    guarded(lambda: pair.log.warning("from the exporter's thread"))()
    pair.log.info("the application's")
    assert pair.ours.provider.force_flush(60_000)
    assert [view(item).body for item in capture.items] == ["the application's"]
    delivered = read_events(pair.logs, pair.group, "ours")
    assert [json.loads(e["message"])["body"] for e in delivered] == ["the application's"]
    assert pair.ours.processor.stats().received == 1


def test_after_the_providers_shutdown_records_are_counted_as_dropped(pair: Pair) -> None:
    pair.log.info("before")
    assert_same(pair, 1)
    for pipeline in (pair.sdk, pair.ours):
        pipeline.provider.shutdown()
    pair.log.info("after")
    dropped = [p.processor.stats().dropped.get("after_shutdown") for p in (pair.sdk, pair.ours)]
    assert dropped == [1, 1]


def test_the_fast_path_hands_our_processor_a_capture(pair: Pair) -> None:
    given: list[Any] = []
    processor = pair.ours.processor
    original = processor.on_capture
    processor.on_capture = lambda source, parts: (given.append(parts), original(source, parts))  # type: ignore[method-assign]
    pair.log.info("fast")
    assert [parts[0] for parts in given] == ["fast"]  # a capture (see otel_cwlogs.capture)
    assert_same(pair, 1)


def comparable(items: list[Any], same_call: bool = True) -> list[Any]:
    """Views of batch items, with what two providers or two calls take apart left out."""
    views = [view(item) for item in items]
    return [
        v._replace(
            timestamp=v.timestamp if same_call else None,
            observed_timestamp=None,
            attributes=dict(v.attributes),
            resource=v.resource.attributes.get("service.name"),
            scope=v.scope.name,
        )
        for v in views
    ]


def test_other_processors_get_what_the_sdks_handler_gives_them(
    session: Any, moto_endpoint: str, logs: Any, group: str
) -> None:
    captures = Capture(), Capture()
    sdk = Pipeline(
        SdkLoggingHandler,
        session,
        moto_endpoint,
        group,
        "sdk",
        SimpleLogRecordProcessor(captures[0]),
    )
    ours = Pipeline(
        LoggingHandler, session, moto_endpoint, group, "ours", SimpleLogRecordProcessor(captures[1])
    )
    given: list[Any] = []
    original = ours.processor.on_capture
    ours.processor.on_capture = lambda source, parts: (given.append(parts), original(source, parts))  # type: ignore[method-assign]
    log = logging.getLogger("tests.handler.others")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(sdk.handler)
    log.addHandler(ours.handler)
    try:
        log.info("to everyone %s", 1, extra={"tenant": "acme", "obj": Opaque()})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        for pipeline in (sdk, ours):
            assert pipeline.provider.force_flush(60_000)
        assert comparable(captures[1].items) == comparable(captures[0].items)
        assert len(captures[1].items) == 2
        assert len(given) == 2
        assert [e["message"] for e in read_events(logs, group, "ours")] == [
            e["message"] for e in read_events(logs, group, "sdk")
        ]
        assert ours.processor.stats().received == 2
    finally:
        for pipeline in (sdk, ours):
            log.removeHandler(pipeline.handler)
            pipeline.provider.shutdown()


def delivered(pipeline: Pipeline, logs: Any, messages: list[str]) -> list[Any]:
    """The documents of the events that reach ``pipeline``'s stream when its handler, alone on
    a logger, logs ``messages`` at INFO (one code location)."""
    log = logging.getLogger(f"tests.handler.{pipeline.stream}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(pipeline.handler)
    try:
        for message in messages:
            log.info(message)
        assert pipeline.provider.force_flush(60_000)
    finally:
        log.removeHandler(pipeline.handler)
        pipeline.provider.shutdown()
    group = pipeline.group
    return [json.loads(e["message"]) for e in read_events(logs, group, pipeline.stream)]


def test_a_subclass_filter_runs_with_no_filters_added(
    session: Any, moto_endpoint: str, logs: Any, group: str
) -> None:
    class Discreet(LoggingHandler):
        def filter(self, record: logging.LogRecord) -> Any:
            return "secret" not in record.getMessage()

    docs = delivered(Pipeline(Discreet, session, moto_endpoint, group, "discreet"), logs,
                     ["a secret", "kept"])  # fmt: skip
    assert [doc["body"] for doc in docs] == ["kept"]


def test_a_subclass_that_changes_the_attributes_has_them_on_every_record(
    session: Any, moto_endpoint: str, logs: Any, group: str
) -> None:
    """Records with no extra fields share their code location's attributes, unless a
    subclass makes its own attributes: then it is asked for each record."""

    class Numbered(LoggingHandler):
        calls = 0

        def _get_attributes(self, record: logging.LogRecord) -> Any:  # type: ignore[override]
            Numbered.calls += 1
            return {**super()._get_attributes(record), "call": Numbered.calls}

    docs = delivered(Pipeline(Numbered, session, moto_endpoint, group, "numbered"), logs,
                     ["same place"] * 3)  # fmt: skip
    assert [doc["attributes"]["call"] for doc in docs] == [1, 2, 3]


def test_without_our_processor_it_is_the_sdks_handler() -> None:
    def emitted(handler_class: Any) -> list[Any]:
        capture = Capture()
        provider = LoggerProvider()
        provider.add_log_record_processor(SimpleLogRecordProcessor(capture))
        log = logging.getLogger("tests.handler.plain")
        log.propagate = False
        log.setLevel(logging.DEBUG)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            handler = handler_class(logger_provider=provider)
        log.addHandler(handler)
        try:
            log.info("order %s paid", 42, extra={"tenant": "acme", "n": 3})
            log.warning({"a": 1})
        finally:
            log.removeHandler(handler)
            provider.shutdown()
        return comparable(capture.items, same_call=False)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LoggingHandler()
    ours, theirs = emitted(LoggingHandler), emitted(SdkLoggingHandler)
    assert len(ours) == 2
    assert ours == theirs
    assert is_otel_handler(LoggingHandler())


texts = st.text(max_size=60)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    texts,
    st.binary(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.builds(Opaque),
    ),
    max_leaves=8,
)
extra_names = st.text(min_size=1, max_size=12).filter(
    lambda name: (
        name not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        and name not in ("message", "asctime")
    )
)
messages = st.one_of(
    st.tuples(texts.map(lambda t: t.replace("%", "%%")), st.just(())),
    st.tuples(st.just("%s and %r"), st.tuples(values, values)),
    st.tuples(values, st.just(())),
)


def test_generated_records_are_the_same_events(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    pair = Pair(session, moto_endpoint, logs, group)
    logged = []

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        message=messages,
        level=st.integers(min_value=1, max_value=60),
        extra=st.dictionaries(extra_names, values, max_size=5),
    )
    def log_one(message: tuple[Any, Any], level: int, extra: dict[str, Any]) -> None:
        msg, args = message
        pair.log.log(level, msg, *args, extra=extra)
        logged.append(msg)

    try:
        log_one()
        assert_same(pair, len(logged))
    finally:
        pair.close()
