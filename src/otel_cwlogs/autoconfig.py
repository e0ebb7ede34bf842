"""``opentelemetry-instrument`` support, whichever distro or configurator is installed.

Two entry points of this package take part in auto-instrumentation, and together they make
``OTEL_LOGS_EXPORTER=cloudwatch_logs opentelemetry-instrument python app.py`` ship every
record through :class:`CloudWatchLogRecordProcessor` under ``opentelemetry-distro``, AWS's
``aws-opentelemetry-distro`` or no distro at all:

- ``opentelemetry_logs_exporter`` (:mod:`otel_cwlogs._entry`): loading the exporter calls
  :func:`swap_batch_processor`. The configurator that is loading it (the SDK's, or a distro's
  with a copy of the SDK's logging set-up) looks the name ``BatchLogRecordProcessor`` up in its
  own module a moment later; there the name now makes a ``CloudWatchLogRecordProcessor`` for a
  :class:`CloudWatchLogExporter`, and the stock processor for any other exporter.
- ``opentelemetry_post_instrument`` (:func:`complete_logging`), after every configurator and
  instrumentor: when no configurator ran (no distro is installed), runs the SDK's own
  configuration, as a distro's configurator would have; sets up a logger provider when none
  was (SDK <= 1.29, or a distro that skips logs without
  ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``); and puts the package's logging
  handler on the root logger: in place of the SDK's or the contrib instrumentation's handler
  there (its level, filters and formatter kept), or alone when none is there.

The package registers no configurator: configurators are exclusive, and ``opentelemetry-
instrument`` warns at every start about each one it does not run, so a second one beside a
distro's would put a line of this package's into every application's logs.

``OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR=false`` turns the swap off;
``OTEL_EXPORTER_CLOUDWATCH_LOGS_FAST_HANDLER=false`` keeps the SDK's or contrib's handler;
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=false`` (or the contrib instrumentation's
``OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false``) keeps the handler off.
"""

from __future__ import annotations

import logging
import os
import sys
from types import FrameType
from typing import Any

import wrapt
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.util._importlib_metadata import entry_points

from . import _sdk
from ._diag import logger
from ._guard import is_otel_handler, protect_root_handlers
from .config import env_flag
from .exporter import CloudWatchLogExporter
from .processor import CloudWatchLogRecordProcessor
from .unconfigured import CountingProcessor, UnconfiguredExporter, exporter_from_environment

NAME = "cloudwatch_logs"
"""The name of this package's exporter entry point."""

SWAP_VARIABLE = "OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR"
FAST_HANDLER_VARIABLE = "OTEL_EXPORTER_CLOUDWATCH_LOGS_FAST_HANDLER"
HANDLER_VARIABLE = "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"
CONTRIB_HANDLER_VARIABLE = "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION"
_BATCH = "BatchLogRecordProcessor"


@wrapt.decorator
def _ours_for_cloudwatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BatchLogRecordProcessor(exporter, ...)``, but ours when the exporter is ours; the
    stand-in for an exporter that could not be made counts each record as it comes (a
    batch processor's queue would drop a burst uncounted)."""
    exporter = args[0] if args else kwargs.get("exporter")
    if isinstance(exporter, CloudWatchLogExporter):
        return CloudWatchLogRecordProcessor(*args, **kwargs)
    if isinstance(exporter, UnconfiguredExporter):
        return CountingProcessor(exporter)
    return wrapped(*args, **kwargs)


def swap_batch_processor() -> list[str]:
    """Wrap ``BatchLogRecordProcessor`` where the code calling this looks it up.

    Walks the calling frames and, in each module whose global ``BatchLogRecordProcessor`` is
    the SDK's class, rebinds that global to a wrapper (idempotent: a wrapped global is no
    longer the class). The SDK's own definition is left alone, so code that imports the name
    later gets the stock class. Returns the modules changed now; does nothing when
    ``OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR`` is false.
    """
    if not env_flag(SWAP_VARIABLE, default=True):
        return []
    changed = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        frame = frame.f_back
        if not isinstance(name, str) or name.startswith(("opentelemetry.sdk._logs", "otel_cwlogs")):
            continue
        module = sys.modules.get(name)
        if getattr(module, _BATCH, None) is BatchLogRecordProcessor:
            setattr(module, _BATCH, _ours_for_cloudwatch(BatchLogRecordProcessor))
            changed.append(name)
    if changed:
        logger.debug("CloudWatchLogRecordProcessor for cloudwatch_logs in %s", changed)
    return changed


def _exporter_names() -> list[str]:
    """``OTEL_LOGS_EXPORTER`` as the SDK splits it."""
    return [n.strip() for n in os.environ.get("OTEL_LOGS_EXPORTER", "").split(",") if n.strip()]


def _wants_handler() -> bool:
    """False when the user turned the OpenTelemetry logging handler off explicitly."""
    for variable in (HANDLER_VARIABLE, CONTRIB_HANDLER_VARIABLE):
        if os.environ.get(variable, "").strip().lower() == "false":
            return False
    return True


def _resource() -> Resource:
    """The resource the configurator gave the tracer provider, else one from the environment."""
    from opentelemetry import trace

    resource = getattr(trace.get_tracer_provider(), "resource", None)
    if isinstance(resource, Resource):
        return resource
    version = _sdk.auto_instrumentation_version()
    return Resource.create({"telemetry.auto.version": version} if version else {})


def _a_configurator_ran() -> bool:
    """Whether ``opentelemetry-instrument`` found a configurator to run: the first one
    installed, or the one ``OTEL_PYTHON_CONFIGURATOR`` names."""
    names = [e.name for e in entry_points(group="opentelemetry_configurator")]
    named = os.environ.get("OTEL_PYTHON_CONFIGURATOR", "").strip()
    return named in names if named else bool(names)


def _configure_sdk() -> None:
    """The SDK's own configuration (traces, metrics, logs from ``OTEL_*``), as the configurator
    of ``opentelemetry-distro`` runs it; a failure of it is said in one line."""
    try:
        _OTelSDKConfigurator().configure(  # type: ignore[no-untyped-call]
            auto_instrumentation_version=_sdk.auto_instrumentation_version()
        )
    except Exception as error:
        logger.error(
            "cloudwatch_logs: the OpenTelemetry SDK's configuration failed (%s: %s); "
            "logs are set up alone",
            type(error).__name__,
            error,
        )


def _new_provider() -> LoggerProvider:
    exporter = exporter_from_environment()
    provider = LoggerProvider(resource=_resource())
    batch: Any = BatchLogRecordProcessor
    if env_flag(SWAP_VARIABLE, default=True):
        batch = _ours_for_cloudwatch(BatchLogRecordProcessor)
    provider.add_log_record_processor(batch(exporter))
    _sdk.set_logger_provider(provider)
    logger.info("no logger provider was configured; set one up for cloudwatch_logs")
    return provider


def _place_handler(provider: LoggerProvider) -> None:
    """The package's handler on the root logger, alone or in place of the SDK's or contrib's
    (unless ``OTEL_EXPORTER_CLOUDWATCH_LOGS_FAST_HANDLER`` is false), never beside them."""
    from .handler import LoggingHandler

    root = logging.getLogger()
    theirs = [h for h in root.handlers if is_otel_handler(h)]
    if not theirs:
        root.addHandler(_sdk.sdk_logging_handler(provider))
        return
    if not env_flag(FAST_HANDLER_VARIABLE, default=True):
        return
    for handler in theirs:
        if isinstance(handler, LoggingHandler):
            continue
        ours = _sdk.sdk_logging_handler(getattr(handler, "_logger_provider", None) or provider)
        ours.setLevel(handler.level)
        ours.filters = list(handler.filters)
        ours.formatter = handler.formatter
        root.handlers[root.handlers.index(handler)] = ours


def complete_logging() -> None:
    """The ``opentelemetry_post_instrument`` hook: make sure records reach the exporter.

    Runs once every configurator and instrumentor has; never raises into the start-up.
    """
    if NAME not in _exporter_names() or env_flag("OTEL_SDK_DISABLED", default=False):
        return
    try:
        if not _a_configurator_ran():
            _configure_sdk()
        provider = _sdk.configured_logger_provider()
        if provider is None:
            provider = _new_provider()
        elif not isinstance(provider, LoggerProvider):
            logger.error(
                "OTEL_LOGS_EXPORTER names cloudwatch_logs, but the logger provider set up at "
                "start-up is a %s, not the OpenTelemetry SDK's: nothing is shipped to "
                "CloudWatch. Let the SDK's configuration set up logs (a distro's "
                "configurator, or none).",
                type(provider).__name__,
            )
            return
        if _wants_handler():
            _place_handler(provider)
        protect_root_handlers()
    except Exception as error:
        logger.error(
            "cloudwatch_logs: setting up logging failed (%s: %s)", type(error).__name__, error
        )
