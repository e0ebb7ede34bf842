"""The pace of one stream's PutLogEvents requests.

The old PutLogEvents quota, still enforced by compatible endpoints, is 5 requests per second
per stream over any one-second window: a token bucket that lets a burst go at once breaks it.
A :class:`Pace` spaces requests instead. The processor does not hand a stream's next request
to a sender before its pace allows, and the AWS edge waits for it before every attempt of a
request, retries and re-sends after creating a stream included, so no window ever holds more
than the rate. A stream that is throttled all the same (an account quota, an endpoint with a
lower one) slows down by itself, and comes back to its rate as requests go through.
"""

from __future__ import annotations


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
