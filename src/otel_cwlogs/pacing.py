"""The pace of one stream's PutLogEvents requests.

The old PutLogEvents quota, still enforced by compatible endpoints, is 5 requests per second
per stream over any one-second window: a token bucket that lets a burst go at once breaks it.
A :class:`Pace` spaces requests instead. The scheduler hands a stream's next attempt to a
sender only once its pace allows, retries included: one attempt is one PutLogEvents request
(what else its plan holds comes back to the scheduler), so no window ever holds more than the
rate. A stream that is throttled all the same (an account quota, an endpoint with a lower
one) slows down by itself, and comes back to its rate as requests go through.

:class:`Slots` paces calls that share one quota across a process's threads and streams: the
creation of log streams and groups (CloudWatch's CreateLogStream quota is 50 per second per
account and region, CreateLogGroup's 10), so that a burst of new streams waits its turn.
"""

from __future__ import annotations

import threading

from ._fork import reinit_in_child

CREATE_LOG_STREAM_RATE = 50.0
CREATE_LOG_GROUP_RATE = 10.0


class Pace:
    """Request pacing for one stream: never more than ``rate`` requests in any one-second
    window. Requests are spaced, not bunched: each starts at least ``1.1/rate`` after the one
    before; the 10 % margin keeps network jitter (one request slower on the way than the
    next) from putting one too many into the endpoint's window. A rate of 0 means no limit.
    """

    MARGIN = 1.1
    SLOWEST_S = 5.0
    """The longest spacing throttling can bring a stream to."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.base = self.MARGIN / rate if rate else 0.0
        self.interval = self.base
        self.next_at = now

    @property
    def slowed(self) -> bool:
        """Throttling has spaced requests further than the configured rate."""
        return self.interval > self.base

    def wait(self, now: float) -> float:
        """Seconds until a request may start (0: now)."""
        return max(0.0, self.next_at - now) if self.interval else 0.0

    def throttled(self) -> None:
        """The endpoint said "too many": space requests twice as far (from 0.2 s, when the
        stream had no limit), up to :attr:`SLOWEST_S`."""
        self.interval = min(self.SLOWEST_S, max(2 * self.interval, 0.2))

    def accepted(self) -> None:
        """A request went through: come back towards the configured rate."""
        if self.interval > self.base:
            self.interval = max(self.base, self.interval / 1.5)
            if self.interval < 0.05 and not self.rate:
                self.interval = 0.0

    def take(self, now: float) -> None:
        """A request starts now."""
        self.next_at = now + self.interval


class Slots:
    """Calls under one per-second quota, shared by threads: a queue of reserved slots, and a
    gate that spaces the calls themselves.

    A caller first reserves the next free slot (:meth:`reserve`), ``1.1/rate`` after the one
    before (the margin of :class:`Pace`), and comes back then: callers are served in the
    order they came, and a burst of them waits its turn without holding a thread. At its
    slot it passes the gate (:meth:`start`), which spaces the calls made by the same
    interval: callers that come late (their threads were busy) and together still go one
    by one, so no one-second window holds more than the rate. Throttling all the same (other
    processes under the same quota) doubles the spacing, at most once a second, up to
    :attr:`SLOWEST_S`; calls that go through bring it back.
    """

    SLOWEST_S = 5.0

    def __init__(self, rate: float) -> None:
        self.base = Pace.MARGIN / rate
        self.interval = self.base
        self._next_slot = self._last_start = self._slowed_at = float("-inf")
        self._new_lock()
        reinit_in_child(self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def reserve(self, now: float) -> float:
        """The time of the caller's slot (``now`` when the quota allows a call at once)."""
        with self._lock:
            at = max(now, self._next_slot)
            self._next_slot = at + self.interval
            return at

    def start(self, now: float) -> tuple[bool, float]:
        """(taken, wait) at the gate. When the last call began by ``now``, the next is the
        caller's (taken), made after the wait (at most one interval). When another caller
        waits already, nothing is taken: the caller comes back after the wait, when that
        one has begun, and tries again."""
        with self._lock:
            at = max(now, self._last_start + self.interval)
            taken = self._last_start <= now
            if taken:
                self._last_start = at
            return taken, at - now

    def throttled(self, now: float) -> None:
        with self._lock:
            if now - self._slowed_at >= 1.0:
                self._slowed_at = now
                self.interval = min(self.SLOWEST_S, 2 * self.interval)

    def accepted(self) -> None:
        with self._lock:
            self.interval = max(self.base, self.interval / 1.5)
