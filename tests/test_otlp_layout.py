"""The ``otlp`` layout: CloudWatch's flattened OTLP JSON, as ADOT's compact exporter writes it.

That it matches ADOT's exporter record for record is shown in ``test_otlp_adot.py`` (tox env
``py311-adot``); these run with every SDK.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_cwlogs._sdk import view
from otel_cwlogs.config import ExporterConfig
from otel_cwlogs.events import (
    EVENT_OVERHEAD,
    MESSAGE,
    MIN_MAX_EVENT_BYTES,
    SIZE,
    EventEncoder,
    Selection,
    otlp_document,
)

from .records import record, sdk_items
from .test_events import plain_values, split_json_parts

NOW_MS = 1_800_000_000_000


def encode(rec: Any, **kwargs: Any) -> tuple[list[Any], Counter[str]]:
    counts: Counter[str] = Counter()
    return EventEncoder("otlp", **kwargs).encode(rec, NOW_MS, counts), counts


def only_message(rec: Any, **kwargs: Any) -> str:
    events, _ = encode(rec, **kwargs)
    assert len(events) == 1
    return str(events[0][MESSAGE])


def test_the_layout_field_for_field() -> None:
    rec = record(
        body="order 42 paid",
        severity_number=13,
        severity_text="WARNING",
        dropped_attributes=2,
        trace_flags=1,
        trace_id=0x0102030405060708090A0B0C0D0E0F10,
        span_id=0x0102030405060708,
        attributes={"code.line.number": 7, "tags": ("a", "b")},
        resource_attributes={"service.name": "checkout"},
        scope=("shop.orders", "1.2", "https://example.com/s", {"left": "out"}),
    )
    assert only_message(rec) == (
        '{"resource":{"attributes":{"service.name":"checkout"},"schemaUrl":""},'
        '"scope":{"name":"shop.orders","version":"1.2","schemaUrl":"https://example.com/s"},'
        '"body":"order 42 paid","severityNumber":13,"severityText":"WARN",'
        '"attributes":{"code.line.number":7,"tags":["a","b"]},"droppedAttributes":2,'
        '"timeUnixNano":1700000000123456789,"observedTimeUnixNano":1700000001000000000,'
        '"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","flags":1}'
    )


def test_empty_fields_are_written() -> None:
    rec = record(body=None, timestamp=None, observed_timestamp=None)
    assert json.loads(only_message(rec)) == {
        "resource": {"attributes": {}, "schemaUrl": ""},
        "scope": {"name": "", "version": "", "schemaUrl": ""},
        "body": None,
        "severityNumber": 0,
        "severityText": "UNSPECIFIED",
        "attributes": {},
        "droppedAttributes": 0,
        "timeUnixNano": 0,
        "observedTimeUnixNano": 0,
        "traceId": "",
        "spanId": "",
        "flags": 0,
    }


@pytest.mark.parametrize(
    ("number", "text", "expected"),
    [
        (1, "TRACE", "TRACE"),
        (9, "info", "INFO"),
        (12, "NOTICE", "INFO4"),
        (21, "CRITICAL", "FATAL"),
        (24, None, "FATAL4"),
        (0, "INFO", "UNSPECIFIED"),
        (99, "odd", "UNSPECIFIED"),
    ],
)
def test_severity_text_is_the_numbers_name(number: int, text: str, expected: str) -> None:
    doc = json.loads(only_message(record(severity_number=number, severity_text=text)))
    assert (doc["severityNumber"], doc["severityText"]) == (number, expected)


@pytest.mark.parametrize(("trace_id", "span_id"), [(5, 0), (0, 6)])
def test_ids_are_written_only_as_a_pair(trace_id: int, span_id: int) -> None:
    doc = json.loads(only_message(record(trace_id=trace_id, span_id=span_id, trace_flags=1)))
    assert (doc["traceId"], doc["spanId"], doc["flags"]) == ("", "", 1)


def test_values_json_cannot_write_stay_in_the_layout() -> None:
    rec = record(body=b"\x00\x01\xff", attributes={"n": math.nan, "i": [math.inf], "b": b""})
    doc = json.loads(only_message(rec))
    assert doc["body"] == "AAH/"
    assert doc["attributes"] == {"n": "NaN", "i": ["Infinity"], "b": ""}
    assert doc["severityText"] == "UNSPECIFIED"


def test_non_ascii_text_is_written_as_is() -> None:
    message = only_message(record(body="日本語 😀"))
    assert '"body":"日本語 😀"' in message


def test_lone_surrogates_are_repaired() -> None:
    events, counts = encode(record(body="a\ud800b", resource_attributes={"k": "\udfff"}))
    doc = json.loads(events[0][MESSAGE])
    assert (doc["body"], doc["resource"]["attributes"]["k"]) == ("a\ufffdb", "\ufffd")
    assert counts["repaired"] == 1


def test_the_cost_settings_apply() -> None:
    rec = record(
        attributes={"code.function.name": "pay", "order": 42},
        resource_attributes={"service.name": "checkout", "host.name": "h1"},
    )
    selection = Selection.parse("service.name", code=False)
    doc = json.loads(only_message(rec, selection=selection))
    assert doc["resource"] == {"attributes": {"service.name": "checkout"}, "schemaUrl": ""}
    assert doc["attributes"] == {"order": 42}


def test_sdk_records_of_this_sdk() -> None:
    (item,) = sdk_items(["paid"], resource={"service.name": "checkout"}, name="otlp")
    rec = view(item)
    doc = json.loads(only_message(rec))
    assert doc["body"] == "paid"
    assert (doc["severityNumber"], doc["severityText"]) == (9, "INFO")
    assert doc["resource"]["attributes"]["service.name"] == "checkout"
    assert doc["scope"]["name"] == item.instrumentation_scope.name
    assert doc["attributes"] == dict(rec.attributes)
    assert doc["timeUnixNano"] == rec.timestamp > 0
    assert doc["observedTimeUnixNano"] == rec.observed_timestamp > 0


def test_the_setting_accepts_otlp() -> None:
    variable = {"OTEL_EXPORTER_CLOUDWATCH_LOGS_MESSAGE_FORMAT": "OTLP"}
    assert ExporterConfig.resolve(environ=variable).message_format == "otlp"
    assert ExporterConfig.resolve(environ={}, message_format="otlp").message_format == "otlp"


def test_a_cut_event_keeps_every_other_field() -> None:
    rec = record(body="é" * 200_000, severity_number=17, trace_id=5, span_id=6)
    events, counts = encode(rec, max_event_bytes=MIN_MAX_EVENT_BYTES)
    (event,) = events
    assert counts["truncated"] == 1
    assert event[SIZE] <= MIN_MAX_EVENT_BYTES
    doc = json.loads(event[MESSAGE])
    assert list(doc)[:3] == ["resource", "scope", "body"]
    whole = json.dumps(otlp_document(rec), ensure_ascii=False, separators=(",", ":"))
    assert doc["truncated"] == {"content": "body", "original_bytes": len(whole.encode("utf-8"))}
    assert doc["body"] == "é" * len(doc["body"])
    assert (doc["severityText"], doc["traceId"]) == ("ERROR", "0" * 31 + "5")


def test_a_huge_resource_cuts_the_whole_document() -> None:
    rec = record(resource_attributes={"big": "x" * 300_000}, severity_number=9, span_id=1)
    (event,), _ = encode(rec, max_event_bytes=MIN_MAX_EVENT_BYTES)
    doc = json.loads(event[MESSAGE])
    assert doc["truncated"]["content"] == "document"
    assert doc["body"].startswith('{"resource":{"attributes":{"big":"xxx')
    assert doc["severityText"] == "INFO"


any_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.binary(max_size=50),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(any_values, st.text(min_size=1000, max_size=5000)),
    attributes=st.dictionaries(st.text(max_size=10), any_values, max_size=6),
    oversize=st.sampled_from(["truncate", "split"]),
    limit=st.integers(min_value=1024, max_value=4096),
)
def test_any_values_give_valid_json_within_the_limit(
    body: Any, attributes: dict[str, Any], oversize: str, limit: int
) -> None:
    rec = record(body=body, attributes=attributes, severity_number=9, trace_id=3, span_id=4)
    events, counts = encode(rec, oversize=oversize, max_event_bytes=limit)
    assert events
    for event in events:
        data = event[MESSAGE].encode("utf-8")
        assert event[SIZE] == len(data) + EVENT_OVERHEAD <= limit
        doc = json.loads(event[MESSAGE])
        assert doc["severityText"] == "INFO"
    if counts["split"]:
        joined, content = split_json_parts(events)
        whole = otlp_document(rec)
        if content == "body":
            assert joined == whole["body"]
        elif content == "body_json":
            assert json.loads(joined) == whole["body"]
        else:
            assert json.loads(joined)["attributes"] == json.loads(json.dumps(whole["attributes"]))
    elif not counts["truncated"]:
        assert json.loads(events[0][MESSAGE]) == json.loads(json.dumps(otlp_document(rec)))


@settings(max_examples=200, deadline=None)
@given(
    body=plain_values,
    attributes=st.dictionaries(st.text(max_size=10), plain_values, max_size=5),
    resource=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=3),
    scope=st.one_of(st.none(), st.tuples(st.text(max_size=5), st.text(max_size=5))),
    severity=st.sampled_from([None, 0, 9, 24]),
    ids=st.tuples(*[st.sampled_from([0, 1, 5, 2**64 + 7, 2**130 + 3])] * 3),
)
def test_the_fast_path_writes_what_the_document_says(
    body: Any,
    attributes: dict[str, Any],
    resource: dict[str, str],
    scope: tuple[str, str] | None,
    severity: int | None,
    ids: tuple[int, int, int],
) -> None:
    rec = record(
        body=body,
        attributes=attributes,
        resource_attributes=resource,
        severity_number=severity,
        trace_id=ids[0],
        span_id=ids[1],
        trace_flags=ids[2] % 256,
    )
    if scope is not None:
        rec = record(**{**rec._asdict(), "scope": scope})
    expected = json.dumps(otlp_document(rec), ensure_ascii=False, separators=(",", ":"))
    try:
        expected.encode("utf-8")
    except UnicodeEncodeError:
        return  # repaired text: covered by test_lone_surrogates_are_repaired
    assert only_message(rec, max_event_bytes=1_048_576) == expected
