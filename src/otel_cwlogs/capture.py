"""The fast path of :class:`~otel_cwlogs.LoggingHandler` into
:class:`~otel_cwlogs.CloudWatchLogRecordProcessor`.

On the application's thread the handler takes only what cannot wait, and gives it to the
processor's queue (:mod:`.intake`, which keeps the parts side by side, no tuple per record):
the record's :class:`Source`, and

- the body, made now (the message's arguments may change later; a formatter set on the
  handler runs now);
- when it was observed, and the current OpenTelemetry context (immutable: its span gives the
  trace id, span id and flags later);
- a shallow copy of the record's fields (its time, level, code location, and references to
  its extra attributes);
- with an exception, the SDK's attributes of the record, made now (its text included).

On the drain thread, :func:`record_view` turns it into the :class:`~._sdk.RecordView` that
``on_emit`` reads from the SDK's record, by the installed SDK's rules (:mod:`._sdk`): its
attributes (the handler's own ``_get_attributes``, then the SDK's bounds and value rules),
severity, resource and scope.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from opentelemetry.trace import get_current_span

from . import _sdk
from ._sdk import RecordView

_PLAIN = frozenset((str, int, float, bool))
"""Attribute values the SDK keeps as they are."""


Captured = tuple[Any, ...]
"""(source, body, observed_ns, context, fields, attributes): a record's capture as the drain
thread reads it from the queue, a plain tuple (the SDK's records and
:class:`~._sdk.RecordView` are not); ``attributes`` is None unless made on the application's
thread."""


class Source:
    """What the records of one SDK logger share: the handler's translation, the logger's
    resource, scope and limits."""

    __slots__ = (
        "by_site",
        "emitted",
        "enabled",
        "get_attributes",
        "logger",
        "maxlen",
        "reserved",
        "severity_text",
    )

    def __init__(self, logger: Any, get_attributes: Callable[[Any], Any], rules: Any) -> None:
        self.logger = logger
        self.get_attributes = get_attributes
        self.severity_text: dict[str, str] = dict(rules.severity_text)
        probe = _sdk.bound_attributes({}, logger)
        maxlen = getattr(probe, "maxlen", None)
        # values are kept as they are within these bounds; otherwise the SDK's rules apply
        if getattr(probe, "max_value_len", None) is not None:
            self.maxlen = -1
        else:
            self.maxlen = 2**62 if maxlen is None else maxlen
        metrics = getattr(logger, "_logger_metrics", None)  # SDK >= 1.41
        self.emitted: Callable[[], Any] | None = getattr(metrics, "emit_log", None)
        self.enabled: Callable[[], bool] | None = getattr(logger, "_is_enabled", None)
        self.reserved = _sdk.reserved_fields(get_attributes)
        """The record fields the SDK's attributes leave out, when ``get_attributes`` is the
        SDK's own: a record with no others has the attributes of its code location only."""
        self.by_site: dict[tuple[Any, Any, Any], tuple[Any, int]] = {}
        """Bounded attributes and their dropped count, by code location, of records with no
        extra fields (at most :data:`SITES`); the records of a location share the one dict,
        which nothing may change."""


_new_record = logging.LogRecord.__new__
_new_view = tuple.__new__


SITES = 4096
"""Code locations whose attributes a :class:`Source` keeps (all are forgotten past that)."""


def record_view(item: Captured) -> RecordView:
    """(the drain thread) The record the SDK's handler would have made of ``item``."""
    source, body, observed, context, fields, attributes = item
    if attributes is not None:
        attributes, dropped = _bounded(source, attributes)
    elif source.reserved is not None and fields.keys() <= source.reserved:
        site = (fields["pathname"], fields["funcName"], fields["lineno"])
        known = source.by_site.get(site)
        if known is None:
            if len(source.by_site) >= SITES:
                source.by_site.clear()
            known = source.by_site[site] = _bounded(source, _attributes(source, fields))
        attributes, dropped = known
    else:
        attributes, dropped = _bounded(source, _attributes(source, fields))
    span = get_current_span(context).get_span_context()
    logger = source.logger
    if source.emitted is not None:
        source.emitted()
    levelname = fields["levelname"]
    return _new_view(
        RecordView,
        (
            int(fields["created"] * 1e9),
            observed,
            span.trace_id,
            span.span_id,
            int(span.trace_flags),
            source.severity_text.get(levelname, levelname),
            _sdk.severity_number(fields["levelno"]),
            body,
            attributes,
            dropped,
            logger.resource,
            logger._instrumentation_scope,
        ),
    )


def _attributes(source: Source, fields: dict[str, Any]) -> Any:
    """The handler's attributes of the record with these fields."""
    record = _new_record(logging.LogRecord)
    record.__dict__ = fields
    return source.get_attributes(record)


def _bounded(source: Source, attributes: Any) -> tuple[Any, int]:
    """``attributes`` as the SDK's bounds and value rules keep them, and how many they
    dropped."""
    if _kept_as_they_are(attributes, source.maxlen):
        return attributes, 0
    bounded = _sdk.bound_attributes(attributes, source.logger)
    return getattr(bounded, "_dict", bounded), bounded.dropped


def _kept_as_they_are(attributes: dict[str, Any], maxlen: int) -> bool:
    """Whether the SDK's bounds and value rules would keep ``attributes`` as they are."""
    if len(attributes) > maxlen or "" in attributes:
        return False
    return _PLAIN.issuperset(map(type, attributes.values()))


class _Skipping(threading.local):
    """Processors given the current record by the fast path, while the handler hands the
    SDK's record to the others."""

    processors: tuple[Any, ...] = ()


skipping = _Skipping()
