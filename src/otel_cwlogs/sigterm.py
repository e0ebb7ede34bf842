"""Deliver what is queued when the process is stopped with SIGTERM.

``docker stop``, ECS and Kubernetes stop a container with SIGTERM, then SIGKILL after a grace
period (10 s for Docker, 30 s for ECS and Kubernetes). Python's default action for SIGTERM
ends the process at once, without ``atexit``, so without this the records of the last
schedule delay (often the ones that say why the process is stopping) are lost.

:func:`arm` installs :func:`_on_sigterm` as the SIGTERM handler, and only when the
application has none of its own (the handler is ``SIG_DFL``), only from the main thread. On
SIGTERM the handler puts the default action back (a second SIGTERM ends the process at once),
lets every armed processor deliver what it holds and shut down within its timeout, and then
sends SIGTERM to its own process again: the process ends by the signal, with the exit status
a supervisor sees without this package (-15, or 143 from a shell). In a forked child the
processors re-arm as they restart; a child in which none did ends at once, as by default.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import weakref
from types import FrameType
from typing import Any, Protocol


class Stoppable(Protocol):
    def _stop_within(self, timeout_s: float) -> None: ...


class _Armed:
    """The processors to stop, with their timeouts, and the process that armed them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.timeouts: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


_armed = _Armed()


def arm(processor: Stoppable, timeout_s: float) -> bool:
    """Flush and stop ``processor`` (within ``timeout_s``) when SIGTERM arrives.

    Returns whether this package's handler is in place: False when called off the main
    thread, or when the application has a SIGTERM handler of its own (it is left alone; its
    own exit runs the processor's shutdown at exit as usual).
    """
    with _armed.lock:
        if _armed.pid != os.getpid():  # a forked child: what the parent armed is not ours
            _armed.timeouts.clear()
            _armed.pid = os.getpid()
        _armed.timeouts[processor] = timeout_s
    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGTERM) is _on_sigterm
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return True
    if current is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def disarm(processor: Stoppable) -> None:
    """Forget ``processor`` (it was shut down). When it was the last one, the default action
    is put back (from the main thread; elsewhere the handler stays, and does nothing)."""
    with _armed.lock:
        _armed.timeouts.pop(processor, None)
        last = not _armed.timeouts
    if (
        last
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is _on_sigterm
    ):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    processors = []
    if _armed.lock.acquire(timeout=1.0):  # held by the interrupted code: stop nothing
        try:
            if _armed.pid == os.getpid():
                processors = list(_armed.timeouts.items())
        finally:
            _armed.lock.release()
    start = time.monotonic()
    for processor, timeout_s in processors:
        remaining = timeout_s - (time.monotonic() - start)
        if remaining > 0:
            processor._stop_within(remaining)
    os.kill(os.getpid(), signal.SIGTERM)
