"""Keeps the package's own work out of the telemetry it ships.

Code decorated with :func:`guarded` runs with OpenTelemetry instrumentation suppressed (so
an installed botocore/urllib3 instrumentation does not trace the exporter's traffic), and
marks its thread as exporting. Log records created in that thread meanwhile (botocore and
urllib3 debug lines, the package's own warnings) are the package's, not the application's:
:class:`CloudWatchLogRecordProcessor` drops them in ``on_emit``, and :data:`OWN_RECORDS`, a
filter put on the OpenTelemetry logging handlers of the root logger, stops them before they
reach any other processor (the stock ``BatchLogRecordProcessor`` included);
:class:`~otel_cwlogs.LoggingHandler` refuses them itself, wherever it is. Records the
application logs in its own ``suppress_instrumentation()`` blocks are not affected.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar, cast

import wrapt
from opentelemetry import context

F = TypeVar("F", bound=Callable[..., Any])

_SUPPRESS_PLAIN_KEY = "suppress_instrumentation"  # the key older instrumentations read


class _Depth(threading.local):
    """How deep the current thread is in the package's own work; 0 in every thread at first
    (a class attribute: no lookup of a missing attribute on the application's hot path)."""

    depth = 0


own_work = _Depth()
"""The current thread's depth in the package's own work (``own_work.depth``; read it where
a call of :func:`exporting` costs too much)."""


def exporting() -> bool:
    """Whether the current thread is doing the package's own work."""
    return own_work.depth > 0


@wrapt.decorator
def _guard(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    ctx = context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True)
    ctx = context.set_value(context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, ctx)
    ctx = context.set_value(_SUPPRESS_PLAIN_KEY, True, ctx)
    token = context.attach(ctx)
    own_work.depth += 1
    try:
        return wrapped(*args, **kwargs)
    finally:
        own_work.depth -= 1
        context.detach(token)


def guarded(function: F) -> F:
    """Run ``function`` as the package's own work: instrumentation suppressed, records kept out.

    A wrapt decorator, so the wrapped function keeps its signature (the SDK inspects
    ``shutdown``'s parameters, for one); the cast tells the type checker as much.
    """
    return cast(F, _guard(function))


class _OwnRecordsFilter(logging.Filter):
    """Refuses records created while the current thread does the package's own work."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not exporting()


OWN_RECORDS = _OwnRecordsFilter("otel_cwlogs")


def is_otel_handler(handler: logging.Handler) -> bool:
    """Whether ``handler`` feeds OpenTelemetry (this package's, the SDK's or the contrib
    ``LoggingHandler``)."""
    from .handler import LoggingHandler

    return isinstance(handler, LoggingHandler) or type(handler).__module__.startswith(
        "opentelemetry"
    )


def protect_root_handlers() -> None:
    """Put :data:`OWN_RECORDS` on every OpenTelemetry logging handler of the root logger.

    Idempotent and cheap (the root logger has a handful of handlers); called on every export
    so that a handler added after the exporter was made is covered too.
    """
    from .handler import LoggingHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, LoggingHandler):  # refuses them in its handle()
            continue
        if is_otel_handler(handler) and OWN_RECORDS not in handler.filters:
            handler.addFilter(OWN_RECORDS)
