"""Many streams: bounded by the concurrency, not by the pace; bounded in memory over time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import boto3
import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, processor

from .conftest import read_events, wait_until
from .limits import Recorder
from .test_processor import pipeline

pytestmark = pytest.mark.slow


class ThreadPeak:
    """The most threads of the package alive at once, sampled until stopped."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            ours = [t for t in threading.enumerate() if t.name.startswith("OtelCloudWatchLogs")]
            self.peak = max(self.peak, len(ours))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def tenants_of(engine: CloudWatchLogRecordProcessor, count: int) -> Iterator[list[Any]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(pipeline(engine, tenant=f"tenant-{n:03d}")) for n in range(count)
        ]


def test_500_streams_are_delivered_in_order_within_20_s_on_at_most_16_threads(
    session: boto3.session.Session,
    moto_endpoint: str,
    logs: Any,
    group: str,
    recorder: Recorder,
) -> None:
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="{tenant}",
    )
    engine = CloudWatchLogRecordProcessor(exporter, flush_on_sigterm=False)  # 5 requests/s each
    peak = ThreadPeak()
    for tenants in tenants_of(engine, 500):
        for number in range(10):
            for n, log in enumerate(tenants):
                log.info("tenant-%03d line %d", n, number)
        started = time.monotonic()
        assert engine.force_flush(20_000)
        took = time.monotonic() - started
    threads = peak.stop()
    engine.shutdown()
    print(f"500 streams flushed in {took:.1f} s; at most {threads} threads of the package")
    assert took < 20
    assert threads <= 16
    for n in range(500):
        events = read_events(logs, group, f"tenant-{n:03d}")
        bodies = [json.loads(e["message"])["body"] for e in events]
        assert bodies == [f"tenant-{n:03d} line {i}" for i in range(10)]
    assert engine.stats().dropped_total == 0


def test_streams_idle_for_a_minute_are_forgotten(
    session: boto3.session.Session,
    moto_endpoint: str,
    group: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(processor, "IDLE_STREAM_S", 0.3)  # a minute, shortened
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="{tenant}",
    )
    engine = CloudWatchLogRecordProcessor(
        exporter, requests_per_second=0, schedule_delay_millis=50, flush_on_sigterm=False
    )
    scheduler = engine._workers._scheduler
    for tenants in tenants_of(engine, 300):
        for log in tenants:
            log.info("once")
        assert engine.force_flush(20_000)
        wait_until(lambda: not scheduler.streams)
        assert not exporter.edge._tokens
        tenants[7].info("again")  # a stream that comes back is made anew and delivered
        assert engine.force_flush(10_000)
    engine.shutdown()
    assert engine.stats().exporter.delivered == 301  # type: ignore[union-attr]
