"""Log record -> InputLogEvent: message layout, UTF-8 sizing and repair, oversize handling.

Pure: no I/O, no clock (the caller passes "now"), no shared state.

The ``json`` layout uses the field names of the OpenTelemetry Collector's
awscloudwatchlogs exporter (``body``, ``severity_number``, ``severity_text``,
``dropped_attributes_count``, ``flags``, ``trace_id``, ``span_id``, ``attributes``,
``scope``, ``resource``; empty fields left out), so Logs Insights queries work the same on
logs shipped either way. The ``otlp`` layout is the flattened OTLP JSON that CloudWatch
stores for logs sent to its OTLP endpoint, field for field as ADOT's
``CompactConsoleLogRecordExporter`` writes it (``resource``, ``scope``, ``body``,
``severityNumber``, ``severityText``, ``attributes``, ``droppedAttributes``, ``timeUnixNano``,
``observedTimeUnixNano``, ``traceId``, ``spanId``, ``flags``; every field always there), so
CloudWatch's default ``traceId`` field index applies. The ``body`` layout sends the body as
text.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Callable, Final, Literal, cast

from ._sdk import RecordView, resource_attributes, schema_url, scope_fields, severity_name

EVENT_OVERHEAD = 26
"""AWS limit: each event counts as its UTF-8 message bytes plus 26."""

MAX_EVENT_BYTES = 1_048_576
"""AWS limit: the largest event (message bytes + 26) CloudWatch accepts today (1 MB)."""

MIN_MAX_EVENT_BYTES = 262_144
"""The event size limit of older CloudWatch-compatible endpoints (256 KiB)."""

MAX_DEPTH = 100
"""Nesting deeper than this in a body or attribute value is replaced by a marker."""

TRUNCATED_SUFFIX = "[Truncated...]"
"""Appended to a cut ``body``-format message (the same marker as the OTel Collector)."""

DEPTH_MARKER = "[nested too deep]"

MessageFormat = Literal["json", "otlp", "body"]
Oversize = Literal["truncate", "split"]

_SCALAR_FIELDS = ("severity_number", "severity_text", "flags", "trace_id", "span_id")
_OTLP_SCALAR_FIELDS = (
    "severityNumber",
    "severityText",
    "timeUnixNano",
    "observedTimeUnixNano",
    "traceId",
    "spanId",
    "flags",
)
_TAIL_CACHE_SIZE = 1024
_SCALAR_MAX = 256  # a scalar field longer than this is not repeated in a cut document's frame
_INT_MAX_BITS = 10_000  # below Python's 4300-digit int->str limit


LogEvent = tuple[int, str, int]
"""One InputLogEvent: ``(timestamp, message, size)``, its size as PutLogEvents counts it.

A plain tuple of an int, a str and an int, which the garbage collector stops tracking at its
first pass: the processor holds events by the hundred thousand while they wait, and tracked
ones would make every full collection of the application's heap go through each of them."""

TIMESTAMP: Final = 0
MESSAGE: Final = 1
SIZE: Final = 2
"""Positions of a :data:`LogEvent`'s fields."""


def make_event(timestamp: int, message: str) -> LogEvent:
    """An event from a message that is already valid UTF-8 text."""
    return (timestamp, message, len(message.encode("utf-8")) + EVENT_OVERHEAD)


def _safe_str(value: object) -> str:
    for render in (str, repr):
        try:
            return render(value)
        except Exception:
            continue
    return f"<unprintable {type(value).__name__}>"


def _float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def to_json_value(value: Any, counts: Counter[str] | None = None, depth: int = 0) -> Any:
    """Turn an OTel AnyValue (or anything else) into something ``json.dumps`` accepts.

    bytes become base64 text, non-finite floats the strings "NaN"/"Infinity"/"-Infinity",
    unknown objects their ``str()``; nesting past :data:`MAX_DEPTH` (cycles included)
    becomes a marker, counted in ``counts["depth_limited"]``.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= _INT_MAX_BITS else hex(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Mapping, Sequence)):
        if depth >= MAX_DEPTH:
            if counts is not None:
                counts["depth_limited"] += 1
            return DEPTH_MARKER
        if isinstance(value, Mapping):
            return {_key(k): to_json_value(v, counts, depth + 1) for k, v in value.items()}
        return [to_json_value(v, counts, depth + 1) for v in value]
    return _safe_str(value)


def body_text(body: Any, counts: Counter[str] | None = None) -> str:
    """A body as the ``body`` format writes it, as the Collector's ``raw_log`` does: text as
    is, bytes as base64, numbers and booleans as JSON text, maps and lists as JSON; no body is
    an empty message (which is dropped)."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    value = to_json_value(body, counts)
    return value if isinstance(value, str) else _dumps(value)


def _key(key: object) -> str:
    """A mapping key as text, the way ``json.dumps`` writes keys it accepts."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key) if not isinstance(key, float) or math.isfinite(key) else str(key)
    return _safe_str(key)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _plain_encoder() -> Callable[[Any], str]:
    """``_dumps`` for plain values, in one C call where CPython's accelerator exists.

    Without the circular-reference check: a cycle ends in RecursionError, which the caller
    treats like any other value the plain path cannot write.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if c_make_encoder is None:  # pragma: no cover - pure-Python json (not CPython)
        return encoder.encode
    chunks = c_make_encoder(
        None, encoder.default, encode_basestring, None, ":", ",", False, False, False
    )

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_plain_dumps = _plain_encoder()


def _repair(text: str) -> str:
    """Valid text from text with lone surrogates: pairs are joined, lone ones become U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _repair_value(value: Any) -> Any:
    if isinstance(value, str):
        return _repair(value)
    if isinstance(value, dict):
        return {_repair(k): _repair_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repair_value(v) for v in value]
    return value


def timestamp_ms(record: RecordView, now_ms: int) -> int:
    """The record's time in ms: its timestamp, else its observed timestamp, else now.

    0 counts as unset (as in OTLP). Out-of-range values are kept: batching sets them aside.
    """
    for value in (record.timestamp, record.observed_timestamp):
        ns = _as_ns(value)
        if ns:
            return ns // 1_000_000
    return now_ms


def _as_ns(value: object) -> int | None:
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _head(record: RecordView, body: Any, severity_text: Any, attributes: Any) -> dict[str, Any]:
    """The document's fields before ``scope`` and ``resource``, in the Collector's order;
    empty ones left out. The caller supplies the three that may need converting."""
    doc: dict[str, Any] = {}
    if body is not None:
        doc["body"] = body
    if record.severity_number:
        doc["severity_number"] = record.severity_number
    if severity_text:
        doc["severity_text"] = severity_text
    if record.dropped_attributes:
        doc["dropped_attributes_count"] = record.dropped_attributes
    if record.trace_flags:
        doc["flags"] = record.trace_flags
    if record.trace_id:
        doc["trace_id"] = format(record.trace_id & (2**128 - 1), "032x")
    if record.span_id:
        doc["span_id"] = format(record.span_id & (2**64 - 1), "016x")
    if attributes:
        doc["attributes"] = attributes
    return doc


def record_document(record: RecordView, counts: Counter[str] | None = None) -> dict[str, Any]:
    """The ``json``-format document of a record, every value converted to plain JSON."""
    doc = _head(
        record,
        to_json_value(record.body, counts),
        _safe_str(record.severity_text) if record.severity_text else None,
        to_json_value(record.attributes, counts) if record.attributes else None,
    )
    doc.update(_context_fields(record, counts))
    return doc


def _context_fields(record: RecordView, counts: Counter[str] | None = None) -> dict[str, Any]:
    """The ``scope`` and ``resource`` fields of a record's document."""
    fields: dict[str, Any] = {}
    name, version, attributes = scope_fields(record.scope)
    if name:
        scope: dict[str, Any] = {"name": _safe_str(name)}
        if version:
            scope["version"] = _safe_str(version)
        if attributes:
            scope["attributes"] = to_json_value(attributes, counts)
        fields["scope"] = scope
    resource = resource_attributes(record.resource)
    if resource:
        fields["resource"] = to_json_value(resource, counts)
    return fields


def otlp_document(record: RecordView, counts: Counter[str] | None = None) -> dict[str, Any]:
    """The ``otlp``-format document of a record, every value converted to plain JSON."""
    doc = _otlp_context(record, counts)
    attributes = to_json_value(record.attributes, counts) if record.attributes else {}
    doc.update(_otlp_fields(record, to_json_value(record.body, counts), attributes))
    return doc


def _otlp_context(record: RecordView, counts: Counter[str] | None = None) -> dict[str, Any]:
    """The ``resource`` and ``scope`` fields of a record's ``otlp`` document."""
    name, version, _ = scope_fields(record.scope)
    return {
        "resource": {
            "attributes": to_json_value(dict(resource_attributes(record.resource)), counts),
            "schemaUrl": schema_url(record.resource),
        },
        "scope": {
            "name": _safe_str(name) if name else "",
            "version": _safe_str(version) if version else "",
            "schemaUrl": schema_url(record.scope),
        },
    }


def _otlp_fields(record: RecordView, body: Any, attributes: Any) -> dict[str, Any]:
    """The ``otlp`` document's fields after ``scope``. The ids are written only when both
    are set, and ``severityText`` is the severity number's name, as ADOT writes them."""
    number = record.severity_number or 0
    traced = record.trace_id and record.span_id
    return {
        "body": body,
        "severityNumber": number,
        "severityText": severity_name(number),
        "attributes": attributes,
        "droppedAttributes": record.dropped_attributes,
        "timeUnixNano": _ns_field(record.timestamp),
        "observedTimeUnixNano": _ns_field(record.observed_timestamp),
        "traceId": format(record.trace_id & (2**128 - 1), "032x") if traced else "",
        "spanId": format(record.span_id & (2**64 - 1), "016x") if traced else "",
        "flags": record.trace_flags,
    }


def _ns_field(value: object) -> int:
    return value if type(value) is int else (_as_ns(value) or 0)


def _utf8_cut(data: bytes, limit: int) -> int:
    """The largest cut position <= limit that does not split a UTF-8 sequence."""
    if limit >= len(data):
        return len(data)
    cut = max(limit, 0)
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def _escaped_len(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def _take(data: bytes, budget: int, escaped: bool) -> int:
    """How many leading bytes of UTF-8 ``data`` fit in ``budget``.

    Measured raw, or, with ``escaped``, as the inside of a JSON string literal.
    """
    cut = _utf8_cut(data, budget)
    if not escaped:
        return cut
    while cut > 0:
        size = _escaped_len(data[:cut].decode("utf-8"))
        if size <= budget:
            return cut
        cut = _utf8_cut(data, min(cut - 1, cut * budget // size))
    return 0


def _chunks(data: bytes, budget: int, escaped: bool) -> list[str]:
    parts: list[str] = []
    start = 0
    while start < len(data):
        cut = _take(data[start:], budget, escaped)
        if cut == 0:  # cannot happen with budgets above 24 bytes; guard against a loop
            raise ValueError("split budget too small")
        parts.append(data[start : start + cut].decode("utf-8"))
        start += cut
    return parts


@dataclass(frozen=True)
class Selection:
    """What the ``json`` and ``otlp`` layouts repeat in every event: which resource
    attributes (all, none, only ``names``, or all but ``names``), and whether the ``code.*``
    attributes go."""

    resource: Literal["all", "none", "only", "except"] = "all"
    names: frozenset[str] = frozenset()
    code: bool = True

    @property
    def everything(self) -> bool:
        return self.resource == "all" and self.code

    def keep(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The resource attributes an event carries."""
        if self.resource == "none":
            return {}
        if self.resource == "only":
            return {k: v for k, v in attributes.items() if k in self.names}
        if self.resource == "except":
            return {k: v for k, v in attributes.items() if k not in self.names}
        return dict(attributes)

    @classmethod
    def parse(cls, text: str, code: bool = True) -> Selection:
        """``all``, ``none``, ``name,name`` (only these) or ``-name,name`` (all but these)."""
        text = text.strip()
        if text.lower() in ("all", "none"):
            return cls(cast(Literal["all", "none"], text.lower()), frozenset(), code)
        exclude = text.startswith("-")
        names = frozenset(n.strip() for n in text.lstrip("-").split(",") if n.strip())
        if not names:
            raise ValueError(text)
        return cls("except" if exclude else "only", names, code)


EVERYTHING = Selection()


class _SelectedResource:
    """A resource as an event carries it: some of its attributes."""

    def __init__(self, attributes: Mapping[str, Any], schema: str) -> None:
        self.attributes = attributes
        self.schema_url = schema


class EventEncoder:
    """Turns records into events no larger than ``max_event_bytes`` (message + 26).

    ``counts`` passed to :meth:`encode` receives one increment per notable thing done to a
    record: ``repaired`` (invalid text replaced), ``truncated``, ``split``,
    ``empty`` (a ``body``-format record with an empty body, dropped), ``depth_limited``.
    """

    def __init__(
        self,
        message_format: MessageFormat = "json",
        max_event_bytes: int = MAX_EVENT_BYTES,
        oversize: Oversize = "truncate",
        selection: Selection = EVERYTHING,
    ) -> None:
        if max_event_bytes < 1024:
            raise ValueError("max_event_bytes must be at least 1024")
        self.message_format = message_format
        self.max_event_bytes = max_event_bytes
        self.oversize = oversize
        self._max_message = max_event_bytes - EVENT_OVERHEAD
        self._tails: dict[tuple[int, int], tuple[Any, Any, str]] = {}
        self._heads: dict[tuple[int, int], tuple[Any, Any, str]] = {}
        self._last: tuple[Any, Any, str] = (object(), object(), "")
        """The tail written last: records mostly come from one scope and resource."""
        self.selection = selection
        self._selecting = not selection.everything and message_format != "body"
        self._resources: dict[int, tuple[Any, _SelectedResource]] = {}
        self._severities: dict[tuple[int | None, str | None], str] = {}

    def encode(self, record: RecordView, now_ms: int, counts: Counter[str]) -> list[LogEvent]:
        if self._selecting:
            record = self._select(record)
        ns = record.timestamp
        ts = ns // 1_000_000 if type(ns) is int and ns else timestamp_ms(record, now_ms)
        if self.message_format == "json":
            whole = self._whole(self._plain_json(record), ts)
            if whole is not None:
                return whole
            return self._encode_json(record_document(record, counts), ts, counts)
        if self.message_format == "otlp":
            whole = self._whole(self._plain_otlp(record), ts)
            if whole is not None:
                return whole
            doc = otlp_document(record, counts)
            return self._encode_json(doc, ts, counts, _OTLP_SCALAR_FIELDS)
        return self._encode_text(body_text(record.body, counts), ts, counts)

    def _whole(self, message: str | None, ts: int) -> list[LogEvent] | None:
        """A fast path's ``message`` as one event, when there is one and it fits; else None
        (the document is then built, and cut or split)."""
        if message is None:
            return None
        if message.isascii():  # a flag of the string: its length is its UTF-8 size
            size = len(message)
        else:
            try:
                size = len(message.encode("utf-8"))
            except UnicodeEncodeError:
                return None
        if 0 < size <= self._max_message:
            return [(ts, message, size + EVENT_OVERHEAD)]
        return None

    def _select(self, record: RecordView) -> RecordView:
        """The record with only what the selection keeps (resources cached by identity)."""
        resource = record.resource
        if self.selection.resource != "all":
            hit = self._resources.get(id(resource))
            if hit is None or hit[0] is not resource:
                if len(self._resources) >= _TAIL_CACHE_SIZE:
                    self._resources.clear()
                kept = _SelectedResource(
                    self.selection.keep(resource_attributes(resource)), schema_url(resource)
                )
                hit = self._resources[id(resource)] = (resource, kept)
            resource = hit[1]
        attributes = record.attributes
        if not self.selection.code and any(str(k).startswith("code.") for k in attributes):
            attributes = {k: v for k, v in attributes.items() if not str(k).startswith("code.")}
        return record._replace(resource=resource, attributes=attributes)

    def _plain_json(self, record: RecordView) -> str | None:
        """The ``json`` message of an ordinary record, written field by field, else None.

        Ordinary: every value is one ``json.dumps`` writes as is. Anything else (bytes,
        NaN, cycles, deep nesting, odd objects) returns None, for :func:`record_document`
        to convert value by value; both give the same text for ordinary records. The
        fields are written as :func:`_head` orders them, with the C encoder only for the
        values that need it (a text body takes one C call); the ``scope`` and ``resource``
        fields are written once per scope and resource.
        """
        text = record.severity_text
        if text and type(text) is not str:
            return None
        body = record.body
        attributes = record.attributes
        parts = []
        try:
            if body is not None:
                body_json = encode_basestring(body) if type(body) is str else _plain_dumps(body)
                parts.append('"body":' + body_json)
            severity = self._severity(record.severity_number, text)
            if severity:
                parts.append(severity)
            if record.dropped_attributes:
                parts.append(f'"dropped_attributes_count":{record.dropped_attributes:d}')
            if record.trace_flags:
                parts.append(f'"flags":{record.trace_flags:d}')
            if record.trace_id:
                parts.append(f'"trace_id":"{record.trace_id & (2**128 - 1):032x}"')
            if record.span_id:
                parts.append(f'"span_id":"{record.span_id & (2**64 - 1):016x}"')
            if attributes:
                if not isinstance(attributes, dict):
                    attributes = dict(attributes)
                parts.append('"attributes":' + _plain_dumps(attributes))
        except (TypeError, ValueError, RecursionError):
            return None
        tail = self._tail(record)
        if not parts:
            return "{" + tail[1:] + "}"
        return "{" + ",".join(parts) + tail + "}"

    def _plain_otlp(self, record: RecordView) -> str | None:
        """The ``otlp`` message of an ordinary record (as :meth:`_plain_json`), else None.

        The ``resource`` and ``scope`` fields are written once per scope and resource.
        """
        attributes = record.attributes
        if not isinstance(attributes, dict):
            attributes = dict(attributes)
        try:
            fields = _plain_dumps(_otlp_fields(record, record.body, attributes))
        except (TypeError, ValueError, RecursionError):
            return None
        return "{" + self._otlp_head(record) + "," + fields[1:]

    def _otlp_head(self, record: RecordView) -> str:
        """``"resource":{...},"scope":{...}`` for a record's resource and scope, cached."""
        return self._context_text(self._heads, record, _otlp_context)

    @staticmethod
    def _context_text(
        cache: dict[tuple[int, int], tuple[Any, Any, str]],
        record: RecordView,
        fields_of: Callable[[RecordView], dict[str, Any]],
    ) -> str:
        """The JSON of ``fields_of(record)`` without its braces, cached in ``cache`` per
        scope and resource (the objects themselves, not only their ids)."""
        key = (id(record.scope), id(record.resource))
        hit = cache.get(key)
        if hit is not None and hit[0] is record.scope and hit[1] is record.resource:
            return hit[2]
        fields = fields_of(record)
        text = _dumps(fields)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _dumps(_repair_value(fields))
        if len(cache) >= _TAIL_CACHE_SIZE:
            cache.clear()
        cache[key] = (record.scope, record.resource, text[1:-1])
        return text[1:-1]

    def _severity(self, number: int | None, text: str | None) -> str:
        """The ``severity_number`` and ``severity_text`` fields (either may be left out),
        written once per pair."""
        key = (number, text)
        fields = self._severities.get(key)
        if fields is None:
            parts = [f'"severity_number":{number:d}'] if number else []
            if text:
                parts.append('"severity_text":' + encode_basestring(text))
            fields = ",".join(parts)
            if len(self._severities) >= _TAIL_CACHE_SIZE:
                self._severities.clear()
            self._severities[key] = fields
        return fields

    def _tail(self, record: RecordView) -> str:
        """``,"scope":{...},"resource":{...}`` for a record's scope and resource, cached."""
        if record.scope is self._last[0] and record.resource is self._last[1]:
            return self._last[2]
        fields = self._context_text(self._tails, record, _context_fields)
        tail = "," + fields if fields else ""
        self._last = (record.scope, record.resource, tail)
        return tail

    def _encode_text(self, text: str, ts: int, counts: Counter[str]) -> list[LogEvent]:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            counts["repaired"] += 1
            text = _repair(text)
            data = text.encode("utf-8")
        if not data:
            counts["empty"] += 1
            return []
        if len(data) <= self._max_message:
            return [(ts, text, len(data) + EVENT_OVERHEAD)]
        if self.oversize == "truncate":
            counts["truncated"] += 1
            marker = TRUNCATED_SUFFIX.encode("utf-8")
            cut = _take(data, self._max_message - len(marker), escaped=False)
            return [make_event(ts, (data[:cut] + marker).decode("utf-8"))]
        counts["split"] += 1
        split_id = os.urandom(8).hex()
        reserve = len(f"[split {split_id} 999999/999999] ")
        chunks = _chunks(data, self._max_message - reserve, escaped=False)
        n = len(chunks)
        return [
            make_event(ts, f"[split {split_id} {i}/{n}] {chunk}")
            for i, chunk in enumerate(chunks, start=1)
        ]

    def _encode_json(
        self,
        doc: dict[str, Any],
        ts: int,
        counts: Counter[str],
        scalars: tuple[str, ...] = _SCALAR_FIELDS,
    ) -> list[LogEvent]:
        message = _dumps(doc)
        try:
            data = message.encode("utf-8")
        except UnicodeEncodeError:
            counts["repaired"] += 1
            doc = _repair_value(doc)
            message = _dumps(doc)
            data = message.encode("utf-8")
        if len(data) <= self._max_message:
            return [(ts, message, len(data) + EVENT_OVERHEAD)]
        frame, content, kind = self._frame(doc, scalars)
        content_bytes = content.encode("utf-8")
        if self.oversize == "truncate":
            counts["truncated"] += 1
            frame["truncated"] = {"content": kind, "original_bytes": len(data)}
            budget = self._max_message - len(_dumps(frame).encode("utf-8"))
            cut = _take(content_bytes, budget, escaped=True)
            kept = content_bytes[:cut].decode("utf-8")
            return [make_event(ts, _dumps({**frame, "body": kept}))]
        counts["split"] += 1
        split = {"id": os.urandom(8).hex(), "part": 999_999, "parts": 999_999, "content": kind}
        budget = self._max_message - len(_dumps({**frame, "split": split}).encode())
        chunks = _chunks(content_bytes, budget, escaped=True)
        events = []
        for i, chunk in enumerate(chunks, start=1):
            split = {**split, "part": i, "parts": len(chunks)}
            events.append(make_event(ts, _dumps({**frame, "body": chunk, "split": split})))
        return events

    def _frame(
        self, doc: dict[str, Any], scalars: tuple[str, ...]
    ) -> tuple[dict[str, Any], str, str]:
        """What to keep whole and what text to cut, for an oversize document.

        The frame is the document with an empty ``body`` in the body's place (first, if the
        document has none). Normally the body is cut (its JSON text, if it is not a string)
        and every other field is kept. When the other fields alone take more than half the
        limit, the whole document's JSON text is cut instead, under a frame of the small
        ``scalars`` fields.
        """
        body = doc.get("body")
        rest = {k: v for k, v in doc.items() if k != "body"}
        if len(_dumps(rest).encode("utf-8")) <= self._max_message // 2:
            frame = {"body": "", **rest} if "body" not in doc else {**doc, "body": ""}
            if isinstance(body, str):
                return frame, body, "body"
            return frame, _dumps(body), "body_json"
        kept = {k: doc[k] for k in scalars if k in doc and len(_dumps(doc[k])) <= _SCALAR_MAX}
        return {"body": "", **kept}, _dumps(doc), "document"
