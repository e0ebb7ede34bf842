from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_cwlogs.events import (
    DEPTH_MARKER,
    EVENT_OVERHEAD,
    MAX_EVENT_BYTES,
    MESSAGE,
    SIZE,
    TIMESTAMP,
    TRUNCATED_SUFFIX,
    EventEncoder,
    Selection,
    record_document,
    to_json_value,
)

from .records import record

NOW_MS = 1_800_000_000_000


def encode(rec: Any, **kwargs: Any) -> tuple[list[Any], Counter[str]]:
    counts: Counter[str] = Counter()
    return EventEncoder(**kwargs).encode(rec, NOW_MS, counts), counts


def only_message(rec: Any, **kwargs: Any) -> str:
    events, _ = encode(rec, **kwargs)
    assert len(events) == 1
    return str(events[0][MESSAGE])


def test_json_layout_is_the_collectors() -> None:
    rec = record(
        body="hello world",
        severity_number=5,
        severity_text="debug",
        dropped_attributes=4,
        trace_flags=1,
        trace_id=0x0102030405060708090A0B0C0D0E0F10,
        span_id=0x0102030405060708,
        attributes={"key1": 1, "key2": "attr2"},
        resource_attributes={"host": "abc123", "node": 5},
    )
    assert only_message(rec) == (
        '{"body":"hello world","severity_number":5,"severity_text":"debug",'
        '"dropped_attributes_count":4,"flags":1,"trace_id":"0102030405060708090a0b0c0d0e0f10",'
        '"span_id":"0102030405060708","attributes":{"key1":1,"key2":"attr2"},'
        '"resource":{"host":"abc123","node":5}}'
    )


def test_empty_fields_are_left_out_and_scope_is_kept() -> None:
    assert only_message(record(body=None)) == "{}"
    rec = record(scope=("lib", "1.2", None, {"a": True}))
    assert json.loads(only_message(rec)) == {
        "body": "hello",
        "scope": {"name": "lib", "version": "1.2", "attributes": {"a": True}},
    }


def test_small_trace_ids_keep_their_leading_zeros() -> None:
    doc = json.loads(only_message(record(trace_id=1, span_id=2, trace_flags=3)))
    assert doc["trace_id"] == "0" * 31 + "1"
    assert doc["span_id"] == "0" * 15 + "2"
    assert doc["flags"] == 3


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")

    def __repr__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("text", "text"),
        (b"\x00\xffbin", base64.b64encode(b"\x00\xffbin").decode()),
        (42, 42),
        (2**80, 2**80),
        (1.5, 1.5),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (True, True),
        ({"a": [1, {"b": b"x"}], 3: None}, {"a": [1, {"b": "eA=="}], "3": None}),
        ((1, "two", 3.0), [1, "two", 3.0]),
        (Unprintable(), "<unprintable Unprintable>"),
    ],
)
def test_every_body_type_serializes(body: Any, expected: Any) -> None:
    assert json.loads(only_message(record(body=body)))["body"] == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [  # docs/layouts.md, "Where json differs from the Collector": each row, as written here
        (3.0, '{"body":3.0}'),
        (1.5e-7, '{"body":1.5e-07}'),
        (1e21, '{"body":1e+21}'),
        (1.5e-5, '{"body":1.5e-05}'),
        (1e16, '{"body":1e+16}'),
        ("<a> & b", '{"body":"<a> & b"}'),
        ("line\u2028paragraph\u2029", '{"body":"line\u2028paragraph\u2029"}'),
        ("café", '{"body":"café"}'),
        ({"b": 1, "a": {"d": 2, "c": 3}}, '{"body":{"b":1,"a":{"d":2,"c":3}}}'),
        (b"", '{"body":""}'),
        ({"ratio": float("nan")}, '{"body":{"ratio":"NaN"}}'),
    ],
)
def test_where_the_json_layout_differs_from_the_collectors(body: Any, message: str) -> None:
    assert only_message(record(body=body)) == message


def test_a_nan_in_a_map_body_of_the_body_layout_is_kept_as_text() -> None:
    message = only_message(record(body={"ratio": float("inf")}), message_format="body")
    assert message == '{"ratio":"Infinity"}'


def test_huge_ints_do_not_hit_the_int_to_text_limit() -> None:
    doc = json.loads(only_message(record(body=10**5000)))
    assert doc["body"] == hex(10**5000)


def test_deep_and_cyclic_values_are_cut_at_the_depth_limit() -> None:
    """Values the JSON encoder cannot write whole (too deep, cyclic) are cut at MAX_DEPTH."""
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for body in (deep, cyclic):
        events, counts = encode(record(body=body))
        assert DEPTH_MARKER in events[0][MESSAGE]
        assert counts["depth_limited"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [  # what the Collector's raw_log writes (pcommon.Value.AsString)
        (b"\x00\x01\x02hello\xff", "AAECaGVsbG//"),
        ("plain", "plain"),
        ("plain é", "plain é"),
        (42, "42"),
        (True, "true"),
        (1.5, "1.5"),
        ({"k": [1, 2]}, '{"k":[1,2]}'),
        (["a", b"ab"], '["a","YWI="]'),
    ],
)
def test_body_format_writes_what_the_collectors_raw_log_writes(body: Any, message: str) -> None:
    assert only_message(record(body=body), message_format="body") == message


@pytest.mark.parametrize("body", ["", None, b""])
def test_empty_body_in_body_format_is_dropped_and_counted(body: Any) -> None:
    events, counts = encode(record(body=body), message_format="body")
    assert events == []
    assert counts["empty"] == 1


@pytest.mark.parametrize("message_format", ["json", "body"])
def test_lone_surrogates_are_repaired(message_format: str) -> None:
    rec = record(body="a\ud800b\udc00\ud83d\ude00", attributes={"k\udfff": "v"})
    events, counts = encode(rec, message_format=message_format)
    message = events[0][MESSAGE]
    message.encode("utf-8")
    assert "a\ufffdb\ufffd\U0001f600" in message
    assert counts["repaired"] == 1
    assert events[0][SIZE] == len(message.encode("utf-8")) + EVENT_OVERHEAD


def test_size_counts_utf8_bytes() -> None:
    events, _ = encode(record(body="日本語"), message_format="body")
    assert events[0][SIZE] == 9 + EVENT_OVERHEAD


@pytest.mark.parametrize(
    ("timestamp", "observed", "expected"),
    [
        (1_700_000_000_123_456_789, 1, 1_700_000_000_123),
        (None, 1_700_000_001_999_999_999, 1_700_000_001_999),
        (0, 1_700_000_002_000_000_000, 1_700_000_002_000),
        (None, None, NOW_MS),
        (0, 0, NOW_MS),
        (-5_000_000, None, -5),
        (2**70, None, 2**70 // 1_000_000),
    ],
)
def test_timestamp_falls_back_to_observed_then_now(
    timestamp: int | None, observed: int | None, expected: int
) -> None:
    events, _ = encode(record(timestamp=timestamp, observed_timestamp=observed))
    assert events[0][TIMESTAMP] == expected


BIG = 'é日x"\\\n\x01' * 180_000  # 2.3 MB of text that grows when JSON-escaped


def test_truncate_json_cuts_the_body_and_keeps_valid_json() -> None:
    events, counts = encode(record(body=BIG, severity_text="ERROR"))
    (event,) = events
    assert counts["truncated"] == 1
    assert MAX_EVENT_BYTES - 16 <= event[SIZE] <= MAX_EVENT_BYTES
    doc = json.loads(event[MESSAGE])
    assert BIG.startswith(doc["body"])
    assert doc["severity_text"] == "ERROR"
    assert doc["truncated"]["content"] == "body"
    assert doc["truncated"]["original_bytes"] > MAX_EVENT_BYTES


def test_truncate_body_format_cuts_at_a_character_and_marks_the_cut() -> None:
    events, counts = encode(record(body=BIG), message_format="body", max_event_bytes=262_144)
    (event,) = events
    assert counts["truncated"] == 1
    assert event[SIZE] <= 262_144
    assert event[MESSAGE].endswith(TRUNCATED_SUFFIX)
    assert BIG.startswith(event[MESSAGE][: -len(TRUNCATED_SUFFIX)])
    assert event[SIZE] >= 262_144 - 4


def split_json_parts(events: list[Any]) -> tuple[str, str]:
    docs = [json.loads(e[MESSAGE]) for e in events]
    ids = {d["split"]["id"] for d in docs}
    assert len(ids) == 1
    assert [d["split"]["part"] for d in docs] == list(range(1, len(docs) + 1))
    assert {d["split"]["parts"] for d in docs} == {len(docs)}
    assert len({e[TIMESTAMP] for e in events}) == 1
    return "".join(d["body"] for d in docs), docs[0]["split"]["content"]


def test_split_json_carries_every_byte_of_the_body() -> None:
    events, counts = encode(record(body=BIG, span_id=7), oversize="split")
    assert counts["split"] == 1
    assert len(events) >= 3
    assert all(e[SIZE] <= MAX_EVENT_BYTES for e in events)
    assert split_json_parts(events) == (BIG, "body")
    assert all(json.loads(e[MESSAGE])["span_id"] == "0000000000000007" for e in events)


def test_split_json_of_a_structured_body_carries_its_json_text() -> None:
    body = {"rows": ["é" * 1000] * 400}
    events, _ = encode(record(body=body), oversize="split", max_event_bytes=262_144)
    text, content = split_json_parts(events)
    assert content == "body_json"
    assert json.loads(text) == body


def test_oversize_attributes_cut_the_whole_document() -> None:
    attributes = {f"key{i}": "v" * 100 for i in range(5000)}
    rec = record(body="short", attributes=attributes, severity_number=9)
    events, _ = encode(rec, oversize="split", max_event_bytes=262_144)
    text, content = split_json_parts(events)
    assert content == "document"
    assert json.loads(text)["attributes"] == attributes
    assert all(json.loads(e[MESSAGE])["severity_number"] == 9 for e in events)
    (cut,), _ = encode(rec, max_event_bytes=262_144)
    assert json.loads(cut[MESSAGE])["truncated"]["content"] == "document"
    assert cut[SIZE] <= 262_144


def test_split_body_format_reassembles() -> None:
    events, _ = encode(record(body=BIG), message_format="body", oversize="split")
    pattern = re.compile(r"\[split ([0-9a-f]{16}) (\d+)/(\d+)\] ")
    pieces = []
    for number, event in enumerate(events, start=1):
        match = pattern.match(event[MESSAGE])
        assert match is not None
        assert int(match.group(2)) == number
        assert int(match.group(3)) == len(events)
        assert event[SIZE] <= MAX_EVENT_BYTES
        pieces.append(event[MESSAGE][match.end() :])
    assert "".join(pieces) == BIG


def test_non_finite_values_in_attributes_never_raise() -> None:
    doc = json.loads(only_message(record(attributes={"a": math.nan, "b": [math.inf]})))
    assert doc["attributes"] == {"a": "NaN", "b": ["Infinity"]}


def test_to_json_value_keeps_plain_values() -> None:
    assert to_json_value({"a": (1, 2)}) == {"a": [1, 2]}


text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(['"', "\\", "\n", "\x00", "é", "😀"])),
    max_size=3000,
)


@settings(max_examples=150, deadline=None)
@given(
    body=st.one_of(text, st.binary(max_size=3000), st.lists(text, max_size=5)),
    message_format=st.sampled_from(["json", "body"]),
    oversize=st.sampled_from(["truncate", "split"]),
    limit=st.integers(min_value=1024, max_value=4096),
)
def test_any_body_gives_events_within_the_limit(
    body: Any, message_format: str, oversize: str, limit: int
) -> None:
    events, counts = encode(
        record(body=body, severity_text="INFO"),
        message_format=message_format,
        oversize=oversize,
        max_event_bytes=limit,
    )
    for event in events:
        data = event[MESSAGE].encode("utf-8")
        assert event[SIZE] == len(data) + EVENT_OVERHEAD <= limit
        assert data
        if message_format == "json":
            json.loads(event[MESSAGE])
    if counts["split"] and message_format == "json":
        joined, content = split_json_parts(events)
        expected = json.loads(only_message(record(body=body, severity_text="INFO")))
        if content == "body":
            assert joined == expected["body"]
        else:
            assert json.loads(joined) == expected["body"]


plain_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    body=plain_values,
    attributes=st.dictionaries(st.text(max_size=10), plain_values, max_size=5),
    resource=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=3),
    scope=st.one_of(st.none(), st.tuples(st.text(max_size=5), st.text(max_size=5))),
    severity=st.tuples(st.sampled_from([0, 9, 24]), st.sampled_from([None, "", "INFO", 'a"\\'])),
    ids=st.tuples(*[st.sampled_from([0, 1, 5, 2**64 + 7, 2**130 + 3])] * 4),
)
def test_the_plain_path_writes_what_the_value_by_value_path_writes(
    body: Any,
    attributes: dict[str, Any],
    resource: dict[str, str],
    scope: Any,
    severity: tuple[int, str | None],
    ids: tuple[int, int, int, int],
) -> None:
    changes: dict[str, Any] = {"body": body, "attributes": attributes}
    if resource:
        changes["resource_attributes"] = resource
    if scope:
        changes["scope"] = scope
    rec = record(
        severity_number=severity[0],
        severity_text=severity[1],
        trace_id=ids[0],
        span_id=ids[1],
        trace_flags=ids[2] % 256,
        dropped_attributes=ids[3],
        **changes,
    )
    plain = EventEncoder()._plain_json(rec)
    assert plain is not None
    assert plain == json.dumps(
        record_document(rec), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


RESOURCE = {
    "service.name": "shop",
    "service.instance.id": "4bd61ca5",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.45.2",
}


@pytest.mark.parametrize(
    ("setting", "kept"),
    [
        ("all", RESOURCE),
        ("none", None),
        ("service.name", {"service.name": "shop"}),
        (
            "service.name, service.instance.id",
            {"service.name": "shop", "service.instance.id": "4bd61ca5"},
        ),
        (
            "-telemetry.sdk.name,telemetry.sdk.version",
            {"service.name": "shop", "service.instance.id": "4bd61ca5"},
        ),
    ],
)
def test_the_resource_attributes_each_event_carries_are_chosen(
    setting: str, kept: dict[str, str] | None
) -> None:
    rec = record(body="b", resource_attributes=RESOURCE)
    events, _ = encode(rec, selection=Selection.parse(setting))
    assert json.loads(events[0][MESSAGE]).get("resource") == kept


def test_the_code_attributes_can_be_left_out() -> None:
    rec = record(body="b", attributes={"code.function.name": "pay", "code.lineno": 3, "order": 7})
    events, _ = encode(rec, selection=Selection(code=False))
    assert json.loads(events[0][MESSAGE])["attributes"] == {"order": 7}
    events, _ = encode(
        record(body="b", attributes={"code.lineno": 3}), selection=Selection(code=False)
    )
    assert "attributes" not in json.loads(events[0][MESSAGE])


@pytest.mark.parametrize("text", ["", "-", " , "])
def test_an_empty_selection_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the value itself is the message)
        Selection.parse(text)
