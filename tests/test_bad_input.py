"""The bad-input catalogue: none may raise; each is delivered faithfully, or repaired or
dropped with its counter. Every case ends with the exporter's accounting identity."""

from __future__ import annotations

import base64
import json
import math
import time
import uuid
from typing import Any, Callable

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_cwlogs import CloudWatchLogExporter
from otel_cwlogs._sdk import ExportResult

from .conftest import read_events, stream_names
from .limits import Recorder
from .records import sdk_items

NS_PER_DAY = 86_400 * 10**9


def export(
    session: boto3.session.Session, endpoint: str, group: str, items: list[Any], **kwargs: Any
) -> CloudWatchLogExporter:
    kwargs.setdefault("log_stream_name", "s")
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=endpoint, log_group_name=group, **kwargs
    )
    assert exporter.export(items) == ExportResult.SUCCESS
    stats = exporter.stats()
    # records that made no event (not log records; empty bodies) are dropped as records
    no_event = stats.dropped.get("invalid_record", 0) + stats.dropped.get("empty", 0)
    assert stats.events == stats.delivered + stats.dropped_total - no_event, stats
    if kwargs.get("oversize") != "split":  # one record, one event
        assert stats.records == stats.delivered + stats.dropped_total, stats
    return exporter


def one(body: Any = "x", **record: Any) -> list[Any]:
    """One real batch item with the given body and record fields."""
    (item,) = sdk_items(["placeholder"])
    item.log_record.body = body
    for name, value in record.items():
        setattr(item.log_record, name, value)
    return [item]


def docs(logs: Any, group: str, stream: str = "s") -> list[dict[str, Any]]:
    return [json.loads(e["message"]) for e in read_events(logs, group, stream)]


def texts(logs: Any, group: str, stream: str = "s") -> list[str]:
    return [e["message"] for e in read_events(logs, group, stream)]


CASES: list[tuple[str, Callable[[], list[Any]], dict[str, Any], Callable[..., None]]] = []


def case(name: str, items: Callable[[], list[Any]], **kwargs: Any) -> Callable[..., Any]:
    def register(check: Callable[..., None]) -> Callable[..., None]:
        CASES.append((name, items, kwargs, check))
        return check

    return register


@case("None body", lambda: one(None))
def _none(logs: Any, group: str, stats: Any) -> None:
    (doc,) = docs(logs, group)
    assert "body" not in doc
    assert doc["severity_text"] == "INFO"


@case("empty body, json", lambda: one(""))
def _empty_json(logs: Any, group: str, stats: Any) -> None:
    assert docs(logs, group)[0]["body"] == ""


@case("empty body, body format (CloudWatch refuses empty messages)", lambda: one(""),
      message_format="body")  # fmt: skip
def _empty_body(logs: Any, group: str, stats: Any) -> None:
    assert stats.dropped == {"empty": 1}
    assert stats.requests == 0


@case("whitespace only", lambda: one("   \t "), message_format="body")
def _whitespace(logs: Any, group: str, stats: Any) -> None:
    assert texts(logs, group) == ["   \t "]


@case("5 MB body, truncate", lambda: one("é" * 2_500_000))
def _big_truncate(logs: Any, group: str, stats: Any) -> None:
    (doc,) = docs(logs, group)
    assert doc["truncated"]["original_bytes"] > 5_000_000
    assert set(doc["body"]) == {"é"}
    assert stats.modified == {"truncated": 1}


@case("5 MB body, split", lambda: one("é" * 2_500_000), oversize="split")
def _big_split(logs: Any, group: str, stats: Any) -> None:
    parts = docs(logs, group)
    assert len(parts) == 5
    assert "".join(p["body"] for p in parts) == "é" * 2_500_000
    assert stats.modified == {"split": 1}


@case("lone surrogates and NUL", lambda: one("a\ud800b\x00c\udfff"))
def _surrogates(logs: Any, group: str, stats: Any) -> None:
    assert docs(logs, group)[0]["body"] == "a\ufffdb\x00c\ufffd"
    assert stats.modified == {"repaired": 1}


@case("non-UTF-8 bytes body", lambda: one(b"\xff\xfe\x00binary"))
def _bytes(logs: Any, group: str, stats: Any) -> None:
    assert base64.b64decode(docs(logs, group)[0]["body"]) == b"\xff\xfe\x00binary"


def _deep() -> list[Any]:
    body: Any = {"leaf": 1}
    for _ in range(100_000):
        body = {"k": body}
    return one(body)


@case("deeply nested body", _deep)
def _deep_check(logs: Any, group: str, stats: Any) -> None:
    assert "[nested too deep]" in texts(logs, group)[0]
    assert stats.modified == {"depth_limited": 1}


@case("10,000 attributes", lambda: one("many", attributes={f"a{i}": i for i in range(10_000)}))
def _attributes(logs: Any, group: str, stats: Any) -> None:
    assert len(docs(logs, group)[0]["attributes"]) == 10_000


@case("non-finite floats", lambda: one({"nan": math.nan, "inf": [math.inf, -math.inf]}))
def _floats(logs: Any, group: str, stats: Any) -> None:
    assert docs(logs, group)[0]["body"] == {"nan": "NaN", "inf": ["Infinity", "-Infinity"]}


@case("timestamp 0 (unset)", lambda: one("zero", timestamp=0))
def _zero(logs: Any, group: str, stats: Any) -> None:
    (event,) = read_events(logs, group, "s")
    assert abs(event["timestamp"] - time.time() * 1000) < 60_000


@case("negative timestamp", lambda: one("neg", timestamp=-5 * 10**9, observed_timestamp=0))
def _negative(logs: Any, group: str, stats: Any) -> None:
    assert stats.dropped == {"too_old": 1}


@case("timestamp past year 2262", lambda: one("far", timestamp=2**70))
def _far(logs: Any, group: str, stats: Any) -> None:
    assert stats.dropped == {"too_new": 1}


@case("3 h in the future", lambda: one("soon", timestamp=time.time_ns() + 3 * 3600 * 10**9))
def _future(logs: Any, group: str, stats: Any) -> None:
    assert stats.dropped == {"too_new": 1}


@case("15 days old", lambda: one("old", timestamp=time.time_ns() - 15 * NS_PER_DAY))
def _old(logs: Any, group: str, stats: Any) -> None:
    assert stats.dropped == {"too_old": 1}


@pytest.mark.parametrize(("name", "items", "kwargs", "check"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    name: str,
    items: Callable[[], list[Any]],
    kwargs: dict[str, Any],
    check: Callable[..., None],
    session: boto3.session.Session,
    moto_endpoint: str,
    logs: Any,
    group: str,
) -> None:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    exporter = export(session, moto_endpoint, group, items(), **kwargs)
    check(logs, group, exporter.stats())


@pytest.mark.slow
def test_fifty_thousand_records_with_one_timestamp_keep_their_order(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    items = sdk_items([f"same {i:05d}" for i in range(50_000)])
    stamp = items[0].log_record.timestamp
    for item in items:
        item.log_record.timestamp = stamp
    export(session, moto_endpoint, group, items, message_format="body")
    assert texts(logs, group) == [f"same {i:05d}" for i in range(50_000)]
    assert len(recorder.requests) >= 5


def test_resources_that_make_invalid_names_are_sanitized(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    bad = "svc: with spaces*" + "x" * 600
    items = sdk_items(["named"], {"service.name": bad})
    export(session, moto_endpoint, group, items, log_stream_name="{service.name}")
    (stream,) = stream_names(logs, group)
    assert len(stream) == 512
    assert ":" not in stream
    assert "*" not in stream


def test_a_batch_mixing_many_resources(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str
) -> None:
    items = [
        item
        for n in range(40)
        for item in sdk_items([f"{n}-a", f"{n}-b"], {"service.name": f"svc{n}"})
    ]
    items = items[::2] + items[1::2]  # interleave
    export(session, moto_endpoint, group, items, log_stream_name="{service.name}")
    assert len(stream_names(logs, group)) == 40
    assert [d["body"] for d in docs(logs, group, "svc7")] == ["7-a", "7-b"]


bodies = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=100),
    st.integers(),
    st.floats(),
    st.none(),
    st.lists(st.text(max_size=10), max_size=5),
    st.dictionaries(st.text(max_size=5), st.floats(), max_size=3),
    st.builds(lambda n: "x" * n, st.integers(1000, 300_000)),
)
offsets = st.one_of(
    st.just(0), st.integers(-16 * NS_PER_DAY, 3 * 3600 * 10**9), st.sampled_from([None])
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(st.tuples(bodies, offsets), min_size=1, max_size=40))
def test_random_record_streams_keep_limits_and_the_identity(
    records: list[tuple[Any, int | None]],
    session: boto3.session.Session,
    moto_endpoint: str,
    recorder: Recorder,
) -> None:
    items = sdk_items(["placeholder"] * len(records))
    now = time.time_ns()
    for item, (body, offset) in zip(items, records):
        item.log_record.body = body
        item.log_record.timestamp = None if offset is None else now + offset
    group = f"/test/{uuid.uuid4().hex}"
    exporter = export(session, moto_endpoint, group, items, max_event_bytes=262_144)
    assert exporter.stats().records == len(records)
    assert recorder.problems == []
