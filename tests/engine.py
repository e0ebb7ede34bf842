"""Driving the scheduler by hand: a fake clock, records through a real intake, no threads.

:class:`Engine` plays the part of :mod:`otel_cwlogs.workers` (it admits records, hands them
to the scheduler, and reports outcomes back), with time moved by the test, so every decision
can be checked at the instant it is made.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Hashable, Sequence
from typing import Any

from otel_cwlogs.client import RetryPolicy
from otel_cwlogs.intake import Intake
from otel_cwlogs.scheduler import (
    Action,
    Claim,
    Item,
    Kind,
    Outcome,
    Request,
    Scheduler,
    Send,
    Settings,
    Spool,
    Taken,
)

SIZE = 100
"""Each item's size: ten fill a request of ``max_bytes=1000``."""


class Engine:
    def __init__(self, **settings: Any) -> None:
        values: dict[str, Any] = {
            "delay_s": 1.0,
            "max_events": 10,
            "max_bytes": 10 * SIZE,
            "rate": 0.0,
            "max_in_flight": 4,
            "policy": RetryPolicy(),
        }
        values.update(settings)
        self.settings = Settings(**values)
        self.intake = Intake(10**9, 10**15, 10**9, threading.Event())
        self.now = 0.0
        self.scheduler = Scheduler(self.settings, self.intake, 0.0, random.Random(7))
        self._numbers = itertools.count()

    def emit(self, key: Hashable, count: int = 1) -> list[Item]:
        """``count`` records for ``key``, queued, taken and added at the current time."""
        items = [((key, next(self._numbers)), SIZE) for _ in range(count)]
        for payload, size in items:
            assert self.intake.admit(payload, size) is None
        taken = self.intake.take()
        assert taken is not None
        self.intake.encoded(count, count * SIZE, count, count * SIZE, 0)
        self.scheduler.add(key, items, count * SIZE, self.now, self.now)
        self.scheduler.taken(count)
        return items

    def poll(self, at: float | None = None, pressure: bool = False) -> list[Action]:
        if at is not None:
            self.now = at
        return self.scheduler.poll(self.now, pressure)

    def sends(self, at: float | None = None) -> list[Request]:
        """The requests started now (a look at the spool meanwhile finds nothing)."""
        actions = self.poll(at)
        if any(isinstance(a, Claim) for a in actions):
            self.claimed(None)
        assert all(isinstance(a, (Send, Claim)) for a in actions), actions
        return [a.request for a in actions if isinstance(a, Send)]

    def next_sends(self) -> list[Request]:
        """The next requests to start, the clock moved on to when they do."""
        while True:
            requests = self.sends()
            if requests:
                return requests
            later = self.scheduler.next_wakeup(self.now)
            assert later > self.now, "nothing is due, ever"
            self.now = later

    def deliver(self, request: Request) -> list[Action]:
        return self.scheduler.sent(request, Outcome(Kind.DONE), self.now)

    def fail(self, request: Request, kind: Kind = Kind.RETRY, **fields: Any) -> list[Action]:
        outcome = Outcome(kind, list(request.items), **fields)
        return self.scheduler.sent(request, outcome, self.now)

    def spooled(self, request: Request, refusal: str | None = None) -> None:
        self.scheduler.spooled(request, refusal, self.now)

    def claimed(
        self,
        key: Hashable | None,
        items: Sequence[Item] = (),
        on_disk: frozenset[str] = frozenset(),
        looked_at: float | None = None,
    ) -> None:
        taken = None if key is None else Taken(object(), key, items, False)
        at = self.now if looked_at is None else looked_at
        self.scheduler.claimed(taken, on_disk, looked_at=at, now=self.now)

    def balanced(self) -> bool:
        return self.intake.balanced


def payloads(request: Request) -> list[Any]:
    return [payload for payload, _ in request.items]


def only(actions: Sequence[Action], kind: type) -> list[Any]:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == len(actions), actions
    return found


__all__ = ["SIZE", "Claim", "Engine", "Kind", "Outcome", "Spool", "only", "payloads"]
