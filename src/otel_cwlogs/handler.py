"""``otel_cwlogs.LoggingHandler``: the standard library's records into a logger provider.

A drop-in for the SDK's handler (its arguments, its ``flush()`` and ``close()``, the records
it makes), without the deprecation warning the SDK's class gives from SDK 1.40, and at a
fraction of its cost on the application's thread when the provider's processors are
:class:`~otel_cwlogs.CloudWatchLogRecordProcessor` over
:class:`~otel_cwlogs.CloudWatchLogExporter`: those are given what :mod:`.capture` takes of
the record, and their drain thread makes the rest of it. Any other processor of the provider
is given the SDK's record as the SDK's handler makes it; with a provider that is not the
SDK's, or none of ours, the handler is the SDK's.
"""

from __future__ import annotations

import logging
import sys
import warnings
from time import time_ns
from typing import Any

from opentelemetry._logs import get_logger
from opentelemetry.sdk._logs import LoggingHandler as _SdkLoggingHandler

from . import _sdk
from ._guard import own_work
from .capture import Source, skipping

_VALID_BODY = _sdk.VALID_BODY_TYPES
_current_context = _sdk.current_context
_FILTER_GIVES_RECORD = sys.version_info >= (3, 12)
"""``Filterer.filter`` answers the record itself, not True, from Python 3.12."""


class LoggingHandler(_SdkLoggingHandler):
    """Emits each record to ``logger_provider`` (the global one when None), as the SDK's
    ``LoggingHandler`` does."""

    def __init__(self, level: int = logging.NOTSET, logger_provider: Any = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(level=level, logger_provider=logger_provider)
        self._rules = rules = _sdk.handler_rules()
        self._per_logger = rules is not None and rules.scope_per_logger
        self._formatter_body = rules is not None and rules.formatter_body
        provider = self._logger_provider
        self._processors = _sdk.synchronous_processors(provider) if self._rules else None
        self._routing: tuple[Any, tuple[Any, ...], bool] = (None, (), False)
        """(the provider's processors, those of them that take the fast path, whether there
        are others): one value, replaced whole, read once per record."""
        self._filtering = type(self).filter is not logging.Filterer.filter
        """Whether a subclass has a ``filter`` of its own (run even with no filters added)."""
        self._sources: dict[str | None, Source | None] = {}

    def handle(self, record: logging.LogRecord) -> Any:
        """``logging.Handler.handle``, without the handler's lock on the fast path (it
        touches nothing the lock guards), and nothing at all for the package's own records
        (the filter the package puts on the SDK's handlers, built in)."""
        if own_work.depth:
            return False
        rv: Any
        if self.filters or self._filtering:
            rv = self.filter(record)
            if not rv:
                return rv
            if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may replace it
                record = rv
        else:
            rv = record if _FILTER_GIVES_RECORD else True
        self.emit(record)
        return rv

    def emit(self, record: logging.LogRecord) -> None:
        processors = self._processors
        if processors is None:
            self._sdk_emit(record)
            return
        current = _sdk.processors_of(processors)
        seen, ours, others = self._routing
        if current is not seen:
            seen, ours, others = self._routing = self._route(current)
        key = record.name if self._per_logger else None
        try:
            source = self._sources[key]
        except KeyError:
            source = self._sources[key] = self._source(record.name)
        if not ours or source is None:
            self._sdk_emit(record)
            return
        if source.enabled is not None and not source.enabled():
            return
        msg = record.msg
        if self.formatter is not None and self._formatter_body:
            self.acquire()
            try:
                body: Any = self.format(record)
            finally:
                self.release()
        elif type(msg) is str and not record.args:
            body = msg
        else:
            body = self._body(record)
        fields = record.__dict__.copy()
        attributes = None
        if record.exc_info:  # its text now, and no traceback kept while it waits
            attributes = self._get_attributes(record)
            fields["exc_info"] = None
        parts = (body, time_ns(), _current_context(), fields, attributes)
        for processor in ours:
            processor.on_capture(source, parts)
        if others:
            skipping.processors = ours
            try:
                self._sdk_emit(record)
            finally:
                skipping.processors = ()

    def _sdk_emit(self, record: logging.LogRecord) -> None:
        """The SDK handler's ``emit``, under the handler's lock as ``handle`` would call it."""
        self.acquire()
        try:
            super().emit(record)
        finally:
            self.release()

    def _body(self, record: logging.LogRecord) -> Any:
        """The body of a record without a formatter, by the SDK's rules."""
        rules = self._rules
        assert rules is not None
        msg = record.msg
        if not rules.message_body:
            return msg % record.args if isinstance(msg, str) and record.args else msg
        if record.args or isinstance(msg, str):
            return record.getMessage()
        if rules.stringify_body and not isinstance(msg, _VALID_BODY):
            return str(msg)
        return msg

    def _route(self, processors: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...], bool]:
        """``processors``, those of them that take the fast path (ours, over our exporter),
        and whether there are others."""
        from .processor import CloudWatchLogRecordProcessor

        ours = tuple(
            p
            for p in processors
            if isinstance(p, CloudWatchLogRecordProcessor) and p.takes_captured
        )
        return processors, ours, len(ours) < len(processors)

    def _source(self, name: str) -> Source | None:
        """The SDK logger the SDK's handler emits this logger's records to, or None if it is
        not an SDK logger (a no-op one, for one)."""
        rules = self._rules
        assert rules is not None
        logger: Any
        if rules.scope_per_logger:
            logger = get_logger(name, logger_provider=self._logger_provider)
        else:
            logger = getattr(self, "_logger", None)
        if not hasattr(logger, "_instrumentation_scope") or not hasattr(logger, "resource"):
            return None
        try:
            return Source(logger, self._get_attributes, rules)
        except Exception:  # the SDK's own way, then
            return None
