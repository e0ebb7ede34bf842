"""The package's own logger, and reports that repeat at most once per interval.

What the package reports must reach a person. Under ``opentelemetry-instrument`` the root
logger's only handler is often an OpenTelemetry one, which sends records into the very
pipeline whose problem is being reported (and the package keeps its own records out of it);
Python's last-resort handler then stays silent, since a handler was found. So the package's
logger carries :class:`StderrFallback`, which prints a warning on stderr exactly when no other
handler on the way up would show it: handlers a user put on ``otel_cwlogs`` (or on the root
logger) are used instead, never both.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Callable

from ._fork import reinit_in_child
from ._guard import guarded, is_otel_handler

logger = logging.getLogger("otel_cwlogs")


class StderrFallback(logging.StreamHandler):  # type: ignore[type-arg]
    """Prints records of WARNING and above on stderr when no other handler would show them.

    "Other handlers" are those the record meets on its way from its logger up to the root,
    as Python's own propagation walks it, except OpenTelemetry ones.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:
        if self._shown_elsewhere(record):
            return False
        return bool(super().handle(record))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # the current one: tests and tools replace it
        super().emit(record)

    def _shown_elsewhere(self, record: logging.LogRecord) -> bool:
        current: logging.Logger | None = logging.getLogger(record.name)
        while current is not None:
            for handler in current.handlers:
                if handler is self or is_otel_handler(handler):
                    continue
                if record.levelno >= handler.level:
                    return True
            if not current.propagate:
                return False
            current = current.parent
        return False


if not any(isinstance(h, StderrFallback) for h in logger.handlers):
    logger.addHandler(StderrFallback())

DEFAULT_INTERVAL_S = 60.0


class RateLimitedLog:
    """Logs a message for a key at most once per interval.

    Occurrences in between are counted, and the next message for that key says how many
    were held back, so a storm of bad input costs one line a minute and loses no count.
    Safe across ``fork``: a child gets a new lock (a parent's thread may hold the old one).
    """

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        target: logging.Logger = logger,
    ) -> None:
        self._interval = interval_s
        self._clock = clock
        self._target = target
        self._lock = threading.Lock()
        self._next_at: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        reinit_in_child(self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def tally(self, key: str, count: int, level: int, msg: str, *args: object) -> None:
        """Log ``msg % (total, *args)`` at most once per interval, ``total`` being the count
        of every call for ``key`` since its last line: the numbers add up to the truth."""
        now = self._clock()
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + count
            if now < self._next_at.get(key, float("-inf")):
                return
            self._next_at[key] = now + self._interval
            total = self._counts.pop(key)
        _log_guarded(self._target, level, msg, total, *args, exc_info=False)

    def log(self, key: str, level: int, msg: str, *args: object, exc_info: bool = False) -> None:
        now = self._clock()
        with self._lock:
            if now < self._next_at.get(key, float("-inf")):
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._next_at[key] = now + self._interval
            held = self._held.pop(key, 0)
        if held:
            msg += " (%d similar reports held back since the last one)"
            args = (*args, held)
        _log_guarded(self._target, level, msg, *args, exc_info=exc_info)


@guarded
def _log_guarded(
    target: logging.Logger, level: int, msg: str, *args: object, exc_info: bool
) -> None:
    """Log as the package's own work, so the record does not come back through the pipeline."""
    target.log(level, msg, *args, exc_info=exc_info)
