"""The scheduler under any sequence of records, time, outcomes and spool answers.

A hypothesis state machine drives :class:`~otel_cwlogs.scheduler.Scheduler` through
:class:`~tests.engine.Engine` (fake clock, real intake) with a model of the spool: segments
written, taken back oldest first, put back or removed. After every step: at most one
operation per stream, at most ``max_in_flight`` sends and looks at the spool, each stream's
events delivered in the order they were logged, and the ledger's identity. At the end the
shutdown settles everything, and every record is delivered, on disk, or counted as dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from otel_cwlogs.scheduler import Action, Claim, Discard, Kind, Outcome, Request, Send, Spool

from .engine import Engine

pytestmark = pytest.mark.slow  # the pure scheduler: SDK-independent

KEYS = ("a", "b", "c")


class _Segment:
    def __init__(self, key: Hashable, items: list[Any]) -> None:
        self.key = key
        self.items = items
        self.first = items[0][0][1]


class SchedulerMachine(RuleBasedStateMachine):
    engine: Engine

    @initialize(
        spool=st.booleans(),
        rate=st.sampled_from([0.0, 5.0]),
        max_in_flight=st.integers(1, 3),
    )
    def start(self, spool: bool, rate: float, max_in_flight: int) -> None:
        self.engine = Engine(
            spool=spool,
            rate=rate,
            max_in_flight=max_in_flight,
            disk_key=lambda key: f"key-{key}",
            handover_s=2.0,
        )
        self.running: list[Action] = []
        self.disk: list[_Segment] = []
        """Segments on disk and not held by the scheduler."""
        self.held: dict[int, _Segment] = {}
        """Segments the scheduler holds (claimed), by their id."""
        self.delivered: dict[Hashable, list[int]] = {key: [] for key in KEYS}
        self.emitted = 0
        self.settled: set[int] = set()
        """Numbers of records of this process delivered, spooled or dropped."""
        self.failed: set[int] = set()
        """Of those, the ones not delivered."""
        self.flushes: dict[int, set[int]] = {}
        """Each flush waiting, and the numbers of the records queued before it."""

    # -- what happens ----------------------------------------------------------------------

    @rule(key=st.sampled_from(KEYS), count=st.integers(1, 25))
    def emit(self, key: str, count: int) -> None:
        self.engine.emit(key, count)
        self.emitted += count

    @rule()
    def flush(self) -> None:
        token = len(self.flushes) + len(self.settled) * 1000
        self.flushes[token] = set(range(self.emitted)) - self.settled  # what is queued now
        self.engine.scheduler.begin_flush(token, self.engine.intake.enqueued)

    @precondition(lambda self: not self.engine.scheduler.closing)
    @rule()
    def close(self) -> None:
        self.engine.scheduler.close()

    @rule(step=st.floats(0.0, 3.0), pressure=st.booleans())
    def poll(self, step: float, pressure: bool) -> None:
        self.running.extend(self.engine.poll(self.engine.now + step, pressure))

    def _running(self, kind: type) -> list[Any]:
        return [action for action in self.running if isinstance(action, kind)]

    @precondition(lambda self: self._running(Send))
    @rule(data=st.data())
    def send_ends(self, data: st.DataObject) -> None:
        action: Send = data.draw(st.sampled_from(self._running(Send)))
        self.running.remove(action)
        request = action.request
        items = list(request.items)
        kind = data.draw(st.sampled_from(list(Kind)))
        remaining = items
        if kind is Kind.DONE:
            remaining = []
        elif kind is Kind.AGAIN:
            remaining = items[data.draw(st.integers(0, len(items))) :]
        outcome = Outcome(
            kind,
            remaining,
            throttled=data.draw(st.booleans()),
            maybe_sent=False,
            keep=data.draw(st.booleans()),
        )
        key = request.stream.key
        numbers = [payload[1] for payload, _ in items[: len(items) - len(remaining)]]
        self.delivered[key] += numbers
        own = request.segment is None
        if own:
            self.settled.update(numbers)
        for follow in self.engine.scheduler.sent(request, outcome, self.engine.now):
            assert isinstance(follow, Discard)
            del self.held[id(follow.segment)]
        if kind is Kind.FAILED and not request.items and own:  # dropped
            dropped = {payload[1] for payload, _ in remaining}
            self.settled |= dropped
            self.failed |= dropped

    @precondition(lambda self: self._running(Spool))
    @rule(data=st.data())
    def spool_write_ends(self, data: st.DataObject) -> None:
        action: Spool = data.draw(st.sampled_from(self._running(Spool)))
        self.running.remove(action)
        request = action.request
        refusal = data.draw(st.sampled_from([None, None, "disk_full", "spool_unwritable"]))
        if refusal is None:
            self._write(request)
        self.engine.spooled(request, refusal)

    def _write(self, request: Request) -> None:
        segment = request.segment
        if segment is not None:
            old = self.held.pop(id(segment))
            if request.returns_segment():
                self.disk.append(old)
                return
        else:
            numbers = {payload[1] for payload, _ in request.items}
            self.settled |= numbers
            self.failed |= numbers
        self.disk.append(_Segment(request.stream.key, list(request.items)))

    @precondition(lambda self: self._running(Claim))
    @rule(data=st.data())
    def look_at_the_spool_ends(self, data: st.DataObject) -> None:
        action: Claim = data.draw(st.sampled_from(self._running(Claim)))
        self.running.remove(action)
        self.disk.sort(key=lambda segment: segment.first)
        taken = None
        if self.disk and data.draw(st.booleans()):
            segment = self.disk.pop(0)
            self.held[id(segment)] = segment
            taken = (segment, segment.key, segment.items)
        others = [s for s in self.held.values() if taken is None or s is not taken[0]]
        on_disk = frozenset(f"key-{s.key}" for s in [*self.disk, *others])  # but the one taken
        engine = self.engine
        if taken is None:
            engine.claimed(None, on_disk=on_disk)
        else:
            engine.claimed(taken[1], taken[2], on_disk=on_disk)
            # the model's segment is what the scheduler holds: find it by its items
            stream = engine.scheduler.streams[taken[1]]
            assert stream.claimed is not None
            self.held[id(stream.claimed.segment)] = self.held.pop(id(taken[0]))

    # -- what always holds -------------------------------------------------------------------

    @invariant()
    def the_ledger_balances(self) -> None:
        assert self.engine.balanced()

    @invariant()
    def one_operation_per_stream_and_the_slots_hold(self) -> None:
        keys = [a.request.stream.key for a in self.running if isinstance(a, (Send, Spool))]
        assert len(keys) == len(set(keys)), keys
        outside = [a for a in self.running if isinstance(a, (Send, Claim))]
        assert len(outside) <= self.engine.settings.max_in_flight

    @invariant()
    def each_stream_is_delivered_in_order(self) -> None:
        for numbers in self.delivered.values():
            assert numbers == sorted(set(numbers)), numbers

    @invariant()
    def a_flush_ends_once_what_came_before_it_is_settled(self) -> None:
        for token, ok in self.engine.scheduler.finished_flushes():
            before = self.flushes.pop(token)
            assert before <= self.settled
            assert not ok or not before & self.failed

    def teardown(self) -> None:
        if not hasattr(self, "engine"):
            return
        scheduler = self.engine.scheduler
        scheduler.close()
        left = scheduler.finish()
        for request, active in left:
            scheduler.settle_leftover(request, active, "undelivered_at_shutdown")
        for action in self._running(Spool):
            if action.request in scheduler.abandon_spooling():
                scheduler.settle_leftover(action.request, True, "undelivered_at_shutdown")
        intake = self.engine.intake
        assert intake.balanced
        assert intake.queued == intake.held == intake.active == 0
        delivered = sum(len(numbers) for numbers in self.delivered.values())
        own_on_disk = intake.spooled - intake.unspooled
        dropped = Counter(intake.dropped)
        assert self.emitted == delivered + own_on_disk + sum(dropped.values())


SchedulerMachine.TestCase.settings = settings(
    max_examples=250,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestScheduler = SchedulerMachine.TestCase
