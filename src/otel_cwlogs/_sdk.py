"""The one place that knows how the OpenTelemetry logs SDK differs between versions.

SDK 1.27 to 1.38 hand exporters ``LogData`` (record fields and the resource on
``item.log_record``); 1.39 and later hand them ``ReadableLogRecord`` (the resource on the
item itself). 1.39 also renamed the exporter base class and its result enum, keeping the
old names as deprecated aliases that warn when subclassed. Everything else in the package
sees a :class:`RecordView`.

Processors changed too: SDK <= 1.34 calls ``emit(log_data)``, 1.35 and later
``on_emit(record)``; from 1.39 that record is a mutable ``ReadWriteLogRecord`` shared with
the other processors, which a batching processor copies (:func:`batch_item`).

The logging handler's translation of a ``logging.LogRecord`` changed too (its body, its
severity text, its instrumentation scope, how attributes are bounded): :func:`handler_rules`
asks the installed SDK's handler, once, and :func:`bound_attributes` bounds them as the
installed SDK does, for :mod:`.capture`.

Auto-configuration: the global logger provider is a proxy until something sets one
(:func:`configured_logger_provider`), and the SDK's configuration keeps its logging handler
across ``logging.basicConfig`` from 1.36 (:func:`sdk_logging_handler`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import warnings
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, cast

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk import _logs
from opentelemetry.sdk._logs import LogRecordProcessor as ProcessorBase
from opentelemetry.sdk._logs import export as _export
from opentelemetry.sdk.resources import Resource

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter as ExporterBase
    from opentelemetry.sdk._logs.export import LogRecordExportResult as ExportResult
else:
    # getattr keeps the deprecated names untouched on SDKs that have the new ones.
    ExporterBase = getattr(_export, "LogRecordExporter", None) or _export.LogExporter
    ExportResult = getattr(_export, "LogRecordExportResult", None) or _export.LogExportResult

__all__ = [
    "ExportResult",
    "ExporterBase",
    "ProcessorBase",
    "RecordView",
    "auto_instrumentation_version",
    "batch_item",
    "bound_attributes",
    "configured_logger_provider",
    "current_context",
    "handler_rules",
    "processors_of",
    "resource_attributes",
    "schema_url",
    "scope_fields",
    "sdk_logging_handler",
    "set_logger_provider",
    "severity_name",
    "severity_number",
    "synchronous_processors",
    "view",
]

_Readable: Any = getattr(_logs, "ReadableLogRecord", None)  # SDK >= 1.39
_READABLE_FIELDS = (
    frozenset(f.name for f in dataclasses.fields(_Readable)) if _Readable else frozenset()
)
_HAS_LIMITS = "limits" in _READABLE_FIELDS
_EMPTY_RESOURCE = Resource.get_empty()
_EMPTY_CONTEXT = Context()


def _shallow_copy(obj: Any) -> Any:
    """``copy.copy``, done directly for an object that keeps its fields in ``__dict__``
    (several times faster: this runs on the application's thread for every record)."""
    state = getattr(obj, "__dict__", None)
    if state is None:
        return copy.copy(obj)
    clone = object.__new__(type(obj))
    clone.__dict__.update(state)
    return clone


def batch_item(record: Any) -> Any:
    """What a batching processor keeps of the record given to ``on_emit``/``emit``.

    On SDK >= 1.39 a ``ReadableLogRecord`` over a copy of the record, detached from its
    context (as the stock ``BatchLogRecordProcessor`` does); before, the ``LogData`` itself.
    """
    if _Readable is None:
        return record
    log_record = _shallow_copy(record.log_record)
    if hasattr(log_record, "context"):
        log_record.context = _EMPTY_CONTEXT
    resource = record.resource if record.resource is not None else _EMPTY_RESOURCE
    if _HAS_LIMITS:
        return _Readable(log_record, resource, record.instrumentation_scope, record.limits)
    return _Readable(log_record, resource, record.instrumentation_scope)


def body_of(item: Any) -> Any:
    """The body of a batch item of either shape."""
    return item.log_record.body


class RecordView(NamedTuple):
    """The fields of one log record that an exporter needs, whatever the SDK version."""

    timestamp: int | None
    observed_timestamp: int | None
    trace_id: int
    span_id: int
    trace_flags: int
    severity_text: str | None
    severity_number: int | None
    body: Any
    attributes: Mapping[str, Any]
    dropped_attributes: int
    resource: Any
    """The SDK ``Resource`` (or None); see :func:`resource_attributes`."""
    scope: Any
    """The ``InstrumentationScope`` (or None); see :func:`scope_fields`."""


_EMPTY: Mapping[str, Any] = {}


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def view(item: Any) -> RecordView:
    """Read one record: a batch item (``LogData``, ``ReadableLogRecord``) or the record a
    processor is given (``LogData``, ``ReadWriteLogRecord``).

    Raises ``AttributeError`` or ``TypeError`` for an object that is neither; the caller
    counts it as bad input. Runs on the application's thread for every record, hence the
    plain-type checks before each general conversion.
    """
    record = item.log_record
    if hasattr(item, "resource"):  # ReadableLogRecord, SDK >= 1.39
        resource = item.resource
        holder = item
    else:  # LogData, SDK <= 1.38: the SDK LogRecord carries the resource
        resource = record.resource
        holder = record
    try:  # the SDK reads it off BoundedAttributes; other mappings have no count
        dropped = holder.dropped_attributes
    except AttributeError:
        dropped = 0
    severity = record.severity_number
    if severity is not None and type(severity) is not int:
        # SeverityNumber is an Enum: its value field, read without the property
        value = getattr(severity, "_value_", None)
        severity = _int(getattr(severity, "value", severity) if value is None else value)
    attributes = record.attributes
    # BoundedAttributes keeps a plain dict; reading it saves a copy per record
    attributes = getattr(attributes, "_dict", attributes)
    if type(attributes) is not dict and not isinstance(attributes, Mapping):
        attributes = _EMPTY
    trace_id, span_id, flags = record.trace_id, record.span_id, record.trace_flags
    return _new_view(
        RecordView,
        (
            record.timestamp,
            record.observed_timestamp,
            trace_id if type(trace_id) is int else _int(trace_id),
            span_id if type(span_id) is int else _int(span_id),
            flags if type(flags) is int else _int(flags),
            record.severity_text,
            severity,
            record.body,
            attributes,
            dropped if type(dropped) is int else _int(dropped),
            resource,
            item.instrumentation_scope,
        ),
    )


_new_view = tuple.__new__  # a RecordView from a tuple, without the keyword-handling __new__


def resource_attributes(resource: Any) -> Mapping[str, Any]:
    attributes = getattr(resource, "attributes", None)
    return attributes if isinstance(attributes, Mapping) else _EMPTY


def scope_fields(scope: Any) -> tuple[str | None, str | None, Mapping[str, Any]]:
    """(name, version, attributes) of an instrumentation scope (attributes since SDK 1.2x)."""
    if scope is None:
        return None, None, _EMPTY
    attributes = getattr(scope, "attributes", None)
    return scope.name, scope.version, attributes if isinstance(attributes, Mapping) else _EMPTY


def schema_url(holder: Any) -> str:
    """The schema URL of a resource or an instrumentation scope, "" when it has none."""
    url = getattr(holder, "schema_url", None)
    return url if isinstance(url, str) else ""


_SEVERITY_NAMES = {severity.value: severity.name for severity in SeverityNumber}


def severity_name(number: int | None) -> str:
    """The name of a severity number in the API's ``SeverityNumber`` (``WARN``, ``INFO4``);
    ``UNSPECIFIED`` for no number or one outside it."""
    return _SEVERITY_NAMES.get(number or 0, "UNSPECIFIED")


def configured_logger_provider() -> Any:
    """The global logger provider, or None while nothing has set one."""
    from opentelemetry._logs import get_logger_provider
    from opentelemetry._logs._internal import ProxyLoggerProvider

    provider = get_logger_provider()
    return None if isinstance(provider, ProxyLoggerProvider) else provider


def set_logger_provider(provider: Any) -> None:
    from opentelemetry._logs import set_logger_provider as set_global

    set_global(provider)


def auto_instrumentation_version() -> str | None:
    """The version of opentelemetry-instrumentation, which the SDK puts in the resource."""
    try:
        from opentelemetry.instrumentation.version import __version__
    except ImportError:
        return None
    return str(__version__)


class HandlerRules(NamedTuple):
    """How the installed SDK's ``LoggingHandler`` translates a ``logging.LogRecord``."""

    formatter_body: bool
    """A formatter set on the handler makes the body (``handler.format(record)``)."""
    message_body: bool
    """The body is ``record.getMessage()``, but for a message that is not a ``str`` and has
    no arguments (else: ``msg % args`` for a ``str`` with arguments, the message itself
    otherwise)."""
    stringify_body: bool
    """Such a message that is not a valid OpenTelemetry value becomes ``str(msg)``."""
    scope_per_logger: bool
    """The instrumentation scope is the record's logger name (else one for the handler)."""
    severity_text: Mapping[str, str]
    """Level names the SDK renames (``WARNING`` is ``WARN``); others are kept."""


VALID_BODY_TYPES = (type(None), bool, bytes, int, float, str, Sequence, Mapping)
"""What the SDK's handler keeps as a body that is not a string (``_VALID_ANY_VALUE_TYPES``)."""


class _Opaque:
    """A message the SDK's handler can only turn into text."""

    def __str__(self) -> str:
        return "opaque %s"


@functools.cache
def handler_rules() -> HandlerRules | None:
    """The installed SDK handler's rules, learnt by giving it a few records; None when it
    cannot be asked (the SDK disabled by ``OTEL_SDK_DISABLED``, or a handler that fails)."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs import LoggingHandler as SdkHandler

    seen: list[RecordView] = []

    class Collect(ProcessorBase):
        def on_emit(self, record: Any) -> None:
            seen.append(view(record))

        emit = on_emit

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    def translated(msg: Any, args: Any = (), level: int = logging.INFO) -> RecordView:
        record = logging.LogRecord(
            "otel_cwlogs.probe", level, __file__, 1, msg, args, None, func="probe"
        )
        handler.emit(record)
        return seen.pop()

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            provider = LoggerProvider(shutdown_on_exit=False)
            provider.add_log_record_processor(Collect())
            handler = SdkHandler(logger_provider=provider)
            renamed = {}
            for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, 50):
                name = logging.getLevelName(level)
                text = translated("m", level=level).severity_text
                if text != name:
                    renamed[name] = str(text)
            handler.setFormatter(logging.Formatter("<%(message)s>"))
            formatter_body = translated("m").body == "<m>"
            handler.setFormatter(None)
            opaque = translated(_Opaque())
            return HandlerRules(
                formatter_body=formatter_body,
                message_body=translated(_Opaque(), ("x",)).body == "opaque x",
                stringify_body=isinstance(opaque.body, str),
                scope_per_logger=getattr(opaque.scope, "name", None) == "otel_cwlogs.probe",
                severity_text=renamed,
            )
    except Exception:
        return None


def reserved_fields(get_attributes: Callable[[Any], Any]) -> frozenset[str] | None:
    """The record fields the SDK's handler leaves out of a record's attributes, when
    ``get_attributes`` is its own ``_get_attributes`` (the fields not among them, its code
    location and its exception make the attributes); None for any other."""
    from opentelemetry.sdk._logs import LoggingHandler as SdkHandler
    from opentelemetry.sdk._logs import _internal

    own = SdkHandler.__dict__.get("_get_attributes")
    reserved = getattr(_internal, "_RESERVED_ATTRS", None)
    if not isinstance(own, staticmethod) or not isinstance(reserved, frozenset):
        return None
    return reserved if get_attributes is own.__func__ else None


def bound_attributes(attributes: Mapping[str, Any], logger: Any) -> Any:
    """``attributes`` bounded as the SDK bounds a record's from ``logger`` (its limits, its
    rules for values): the SDK's ``BoundedAttributes``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _Readable is None:  # SDK <= 1.38: its LogRecord bounds them (with no limits)
            record = _logs.LogRecord(  # type: ignore[attr-defined]
                attributes=attributes, resource=_EMPTY_RESOURCE
            )
            return record.attributes
        from opentelemetry._logs import LogRecord as ApiLogRecord

        record = ApiLogRecord(attributes=attributes)
        limits = getattr(logger, "_log_record_limits", None)  # SDK >= 1.43: the provider's
        extra = () if limits is None else (limits,)
        _logs.ReadWriteLogRecord(record, None, None, *extra)
        return record.attributes


@functools.cache
def severity_number(levelno: int) -> int:
    """The SDK's severity number of a ``logging`` level."""
    from opentelemetry.sdk._logs._internal import std_to_otel

    return int(std_to_otel(levelno).value)


def synchronous_processors(provider: Any) -> Any:
    """The SDK provider's own list of processors when it calls them in turn on the emitting
    thread (``SynchronousMultiLogRecordProcessor``); None otherwise (another provider, or
    processors run concurrently)."""
    from opentelemetry.sdk._logs._internal import SynchronousMultiLogRecordProcessor

    multi = getattr(provider, "_multi_log_record_processor", None)
    if type(multi) is not SynchronousMultiLogRecordProcessor:
        return None
    return multi


processors_of: Callable[[Any], tuple[Any, ...]] = attrgetter("_log_record_processors")
"""The processors of :func:`synchronous_processors`' list, now (a tuple, replaced when one
is added)."""


def _context_getter() -> Callable[[], Context]:
    """The API's ``get_current``, or the ``get`` of the context variable it reads when the
    runtime context is the API's own (one call instead of three on the handler's path)."""
    from opentelemetry import context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    runtime = getattr(context, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and variable is not None:
        return cast(Callable[[], Context], variable.get)
    return context.get_current


current_context = _context_getter()
"""The current OpenTelemetry context (``opentelemetry.context.get_current``)."""


def sdk_logging_handler(provider: Any) -> logging.Handler:
    """The package's :class:`~otel_cwlogs.LoggingHandler` for ``provider``, kept across
    ``logging.basicConfig`` and ``dictConfig`` calls as the SDK's own configuration keeps its
    handler (SDK 1.36+).
    """
    from opentelemetry.sdk import _configuration

    from .handler import LoggingHandler

    handler = LoggingHandler(level=logging.NOTSET, logger_provider=provider)
    keep = getattr(_configuration, "_overwrite_logging_config_fns", None)
    if keep is not None:
        keep(handler)
    return handler
