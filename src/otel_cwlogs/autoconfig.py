"""``opentelemetry-instrument`` support, whichever distro or configurator is installed.

Three entry points of this package take part in auto-instrumentation, and together they make
``OTEL_LOGS_EXPORTER=cloudwatch_logs opentelemetry-instrument python app.py`` ship every
record through :class:`CloudWatchLogRecordProcessor` under ``opentelemetry-distro``, AWS's
``aws-opentelemetry-distro`` or no distro at all:

- ``opentelemetry_logs_exporter`` (:mod:`otel_cwlogs._entry`): loading the exporter calls
  :func:`swap_batch_processor`. The configurator that is loading it (the SDK's, or a distro's
  with a copy of the SDK's logging set-up) looks the name ``BatchLogRecordProcessor`` up in its
  own module a moment later; there the name now makes a ``CloudWatchLogRecordProcessor`` for a
  :class:`CloudWatchLogExporter`, and the stock processor for any other exporter.
- ``opentelemetry_post_instrument`` (:func:`complete_logging`), after every configurator and
  instrumentor: sets up a logger provider when none was (SDK <= 1.29, or a distro that skips
  logs without ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``), and puts the SDK's logging
  handler on the root logger when no OpenTelemetry handler is there.
- ``opentelemetry_configurator`` (:class:`CloudWatchConfigurator`): the SDK's configuration.
  Configurators are exclusive (the first one found runs), so unless it is named by
  ``OTEL_PYTHON_CONFIGURATOR`` it hands over to the configurator that would have run had this
  package not been installed: a distro's own configuration stays in effect.

``OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR=false`` turns the swap off;
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
from .errors import ConfigError
from .exporter import CloudWatchLogExporter
from .processor import CloudWatchLogRecordProcessor

NAME = "cloudwatch_logs"
"""The name of this package's exporter and configurator entry points."""

SWAP_VARIABLE = "OTEL_EXPORTER_CLOUDWATCH_LOGS_REPLACE_BATCH_PROCESSOR"
HANDLER_VARIABLE = "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"
CONTRIB_HANDLER_VARIABLE = "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION"
_BATCH = "BatchLogRecordProcessor"


@wrapt.decorator
def _ours_for_cloudwatch(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``BatchLogRecordProcessor(exporter, ...)``, but ours when the exporter is ours."""
    exporter = args[0] if args else kwargs.get("exporter")
    if isinstance(exporter, CloudWatchLogExporter):
        return CloudWatchLogRecordProcessor(*args, **kwargs)
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


def _new_provider() -> LoggerProvider | None:
    try:
        exporter = CloudWatchLogExporter()
    except ConfigError as error:
        logger.error("cloudwatch_logs: %s; no logs are shipped", error)
        return None
    swap = env_flag(SWAP_VARIABLE, default=True)
    provider = LoggerProvider(resource=_resource())
    processor = CloudWatchLogRecordProcessor if swap else BatchLogRecordProcessor
    provider.add_log_record_processor(processor(exporter))
    _sdk.set_logger_provider(provider)
    logger.info("no logger provider was configured; set one up for cloudwatch_logs")
    return provider


def complete_logging() -> None:
    """The ``opentelemetry_post_instrument`` hook: make sure records reach the exporter.

    Runs once every configurator and instrumentor has; never raises into the start-up.
    """
    if NAME not in _exporter_names() or env_flag("OTEL_SDK_DISABLED", default=False):
        return
    try:
        provider = _sdk.configured_logger_provider()
        if provider is None:
            provider = _new_provider()
            if provider is None:
                return
        elif not isinstance(provider, LoggerProvider):
            logger.error(
                "OTEL_LOGS_EXPORTER names cloudwatch_logs, but the logger provider set up at "
                "start-up is a %s, not the OpenTelemetry SDK's: nothing is shipped to "
                "CloudWatch. Let the SDK's configuration set up logs (a distro's "
                "configurator, or OTEL_PYTHON_CONFIGURATOR=cloudwatch_logs).",
                type(provider).__name__,
            )
            return
        root = logging.getLogger()
        if _wants_handler() and not any(is_otel_handler(h) for h in root.handlers):
            root.addHandler(_sdk.sdk_logging_handler(provider))
        protect_root_handlers()
    except Exception:
        logger.error("cloudwatch_logs: setting up logging failed", exc_info=True)


def _configurator_to_run() -> Any:
    """The configurator entry point that runs instead of this one, or None for this one."""
    if os.environ.get("OTEL_PYTHON_CONFIGURATOR", "").strip() == NAME:
        return None
    others = [e for e in entry_points(group="opentelemetry_configurator") if e.name != NAME]
    return others[0] if others else None


class CloudWatchConfigurator(_OTelSDKConfigurator):
    """The SDK's configurator, for installs without a distro (or when named explicitly).

    With another configurator installed and ``OTEL_PYTHON_CONFIGURATOR`` not naming this one,
    it runs that one instead: the one ``opentelemetry-instrument`` would have picked had this
    package not been installed.
    """

    def _configure(self, **kwargs: Any) -> None:
        other = _configurator_to_run()
        if other is None:
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]
            return
        logger.info("configuration handed to the %s configurator", other.name)
        other.load()().configure(**kwargs)
