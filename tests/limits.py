"""The real PutLogEvents limits, checked on the requests a test actually sent.

Written separately from the package's batching code on purpose: the emulator accepts
requests CloudWatch would refuse, so this is what makes a test that sends able to fail.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MAX_REQUEST_BYTES = 1_048_576
MAX_REQUEST_EVENTS = 10_000
EVENT_OVERHEAD = 26
MAX_SPAN_MS = 24 * 3600 * 1000
MAX_FUTURE_MS = 2 * 3600 * 1000
MAX_AGE_MS = 14 * 24 * 3600 * 1000


def request_problems(
    body: dict[str, Any], max_event_bytes: int = 1_048_576, now_ms: int | None = None
) -> list[str]:
    """Every way this PutLogEvents request body breaks a CloudWatch limit."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    problems = []
    events = body.get("logEvents", [])
    if not 1 <= len(events) <= MAX_REQUEST_EVENTS:
        problems.append(f"{len(events)} events")
    sizes = [len(e["message"].encode("utf-8")) + EVENT_OVERHEAD for e in events]
    if sum(sizes) > MAX_REQUEST_BYTES:
        problems.append(f"{sum(sizes)} bytes")
    if any(size > max_event_bytes for size in sizes):
        problems.append(f"an event of {max(sizes)} bytes")
    if any(not e["message"] for e in events):
        problems.append("an empty message")
    stamps = [e["timestamp"] for e in events]
    if stamps != sorted(stamps):
        problems.append("not in chronological order")
    if stamps and stamps[-1] - stamps[0] > MAX_SPAN_MS:
        problems.append(f"a span of {stamps[-1] - stamps[0]} ms")
    if any(t > now_ms + MAX_FUTURE_MS for t in stamps):
        problems.append("an event more than 2 h in the future")
    if any(t < now_ms - MAX_AGE_MS for t in stamps):
        problems.append("an event older than 14 days")
    return problems


@dataclass
class Recorder:
    """Keeps the body of every PutLogEvents request sent by clients it is attached to."""

    max_event_bytes: int = 1_048_576
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def before_send(self, request: Any, **_: Any) -> None:
        if request.headers.get("X-Amz-Target", b"") not in (
            b"Logs_20140328.PutLogEvents",
            "Logs_20140328.PutLogEvents",
        ):
            return
        self.record(json.loads(request.body))

    def record(self, body: dict[str, Any]) -> None:
        """Keep one PutLogEvents request body and check it against the limits."""
        found = request_problems(body, self.max_event_bytes)
        with self.lock:
            self.requests.append(body)
            self.sent_at.append(time.monotonic())
            self.problems.extend(found)

    def attach(self, events: Any) -> None:
        """Register on a botocore event emitter (of a session or a client)."""
        events.register("before-send.cloudwatch-logs.PutLogEvents", self.before_send)

    def events(self, group: str | None = None, stream: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                e
                for r in self.requests
                if (group is None or r["logGroupName"] == group)
                and (stream is None or r["logStreamName"] == stream)
                for e in r["logEvents"]
            ]
