"""The package's own logger, and reports that repeat at most once per interval."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ._guard import guarded

logger = logging.getLogger("otel_cwlogs")

DEFAULT_INTERVAL_S = 60.0


class RateLimitedLog:
    """Logs a message for a key at most once per interval.

    Occurrences in between are counted, and the next message for that key says how many
    were held back, so a storm of bad input costs one line a minute and loses no count.
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
