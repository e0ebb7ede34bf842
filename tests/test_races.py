"""The races of the processor's old single class, each one a test: threads meeting at
shutdown, at a flush, in the counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import boto3
import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor
from otel_cwlogs._sdk import ExporterBase, ExportResult, body_of

from .conftest import wait_until
from .faultproxy import Chaos, FaultProxy
from .limits import Recorder
from .test_processor import pipeline

pytestmark = pytest.mark.slow  # the engine's races: SDK-independent, run on the newest SDK


class Counting(ExporterBase):  # type: ignore[misc]
    """An exporter of another kind: keeps the bodies it is given and when."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.bodies: list[Any] = []
        self.times: list[float] = []
        self.shutdowns = 0
        self.delay_s = delay_s
        self.fail = fail
        self.lock = threading.Lock()

    def export(self, batch: Sequence[Any]) -> ExportResult:
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("the exporter broke")
        with self.lock:
            self.bodies.extend(body_of(item) for item in batch)
            self.times.extend(time.monotonic() for _ in batch)
        return ExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        with self.lock:
            self.shutdowns += 1

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return True


def make(exporter: Any, **settings: Any) -> CloudWatchLogRecordProcessor:
    settings.setdefault("flush_on_sigterm", False)
    return CloudWatchLogRecordProcessor(exporter, **settings)


def test_r1_records_logged_while_shutting_down_are_each_exported_or_counted() -> None:
    """R1: the shutdown check and the append are one step; no record slips in between."""
    for _ in range(5):
        exporter = Counting()
        engine = make(exporter, schedule_delay_millis=5, shutdown_timeout_millis=500)
        with pipeline(engine) as log:
            go = threading.Event()

            def emit(log: Any = log, go: threading.Event = go) -> None:
                go.wait()
                for number in range(3000):
                    log.info("line %d", number)

            writers = [threading.Thread(target=emit) for _ in range(6)]
            for writer in writers:
                writer.start()
            go.set()
            time.sleep(0.01)  # the shutdown comes while they log
            engine.shutdown()
            for writer in writers:
                writer.join()
        stats = engine.stats()
        assert stats.received == 6 * 3000
        assert stats.received == len(exporter.bodies) + sum(stats.dropped.values())
        assert stats.dropped.get("after_shutdown", 0) > 0


def test_r2_two_shutdowns_at_once_shut_down_and_count_once() -> None:
    """R2: shutdown() and the SIGTERM thread racing into the shutdown: one does it."""
    exporter = Counting(delay_s=0.05)
    engine = make(exporter, max_export_batch_size=10, shutdown_timeout_millis=300)
    with pipeline(engine) as log:
        for number in range(200):
            log.info("line %d", number)
        start = threading.Barrier(3)

        def stop(how: Any) -> None:
            start.wait()
            how()

        stoppers = [
            threading.Thread(target=stop, args=(engine.shutdown,)),
            threading.Thread(target=stop, args=(lambda: engine._stop_within(0.3),)),
        ]
        for stopper in stoppers:
            stopper.start()
        start.wait()
        for stopper in stoppers:
            stopper.join()
    stats = engine.stats()
    assert exporter.shutdowns == 1
    assert stats.queued == 0
    assert stats.received == 200 == len(exporter.bodies) + sum(stats.dropped.values())


def test_r3_work_in_progress_when_time_is_up_is_counted_once_and_stops(
    session: boto3.session.Session, moto_endpoint: str, group: str, recorder: Recorder
) -> None:
    """R3: the drain thread still encoding when the shutdown's time is up neither refills
    the buffers nor sends afterwards; its records are counted once."""
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=moto_endpoint, log_group_name=group, log_stream_name="s"
    )
    engine = make(exporter, requests_per_second=0, shutdown_timeout_millis=50)
    with pipeline(engine) as log:
        for number in range(100_000):
            log.info("line %d", number)
        engine.shutdown()
        ended = time.monotonic()
        after = engine.stats()
    assert after.queued == 0
    assert after.exporter is not None
    assert after.received == after.exporter.delivered + after.dropped_total
    for thread in threading.enumerate():
        if thread.name.startswith("OtelCloudWatchLogs"):
            thread.join(10)
    assert engine.stats() == after
    with recorder.lock:
        late = [sent for sent in recorder.sent_at if sent > ended + 0.05]
    assert late == []


def test_r5_an_exporter_that_raises_costs_counted_records() -> None:
    """R5: a send that raises leaves no record uncounted: they are dropped, by reason."""
    exporter = Counting(fail=True)
    engine = make(exporter, max_export_batch_size=10)
    with pipeline(engine) as log:
        for number in range(35):
            log.info("line %d", number)
        assert engine.force_flush(5000) is False
        stats = engine.stats()
    assert stats.dropped == {"export_failed": 35}
    assert stats.queued == 0


def test_r6_a_record_logged_right_after_a_flush_waits_for_the_schedule_delay() -> None:
    """R6: flushes no longer travel the queue, so a record behind one is not taken for old
    and sent at once in a small request."""
    exporter = Counting()
    engine = make(exporter, schedule_delay_millis=300)
    with pipeline(engine) as log:
        emitted = []
        for number in range(8):
            engine.force_flush(0)  # returns at once; the flush is still on its way
            emitted.append(time.monotonic())
            log.info("line %d", number)
            wait_until(lambda number=number: len(exporter.bodies) > number)
    waited = [sent - logged for sent, logged in zip(exporter.times, emitted)]
    assert len(waited) == 8
    assert min(waited) >= 0.25, waited


def test_r8_senders_never_exceed_the_concurrency(
    session: boto3.session.Session, moto_endpoint: str, group: str
) -> None:
    """R8: threads are started in one place, under one lock: never more senders than
    max_concurrent_requests, from the first record on."""
    exporter = CloudWatchLogExporter(
        session=session,
        endpoint_url=moto_endpoint,
        log_group_name=group,
        log_stream_name="{tenant}",
    )
    # the threads themselves, not their names: two racing starts may name two threads alike
    seen: set[threading.Thread] = set()
    engine = make(exporter, max_concurrent_requests=2, requests_per_second=0)
    with ExitStackOfTenants(engine, 3) as tenants:
        for number in range(300):
            for log in tenants:
                log.info("line %d", number)
            seen.update(threading.enumerate())
        assert engine.force_flush(20_000)
        seen.update(threading.enumerate())
    senders = [t for t in seen if t.name.startswith("OtelCloudWatchLogsSend")]
    assert 1 <= len(senders) <= 2, sorted(t.name for t in senders)


def test_r10_retries_of_concurrent_senders_are_all_counted(
    session: boto3.session.Session, proxy: FaultProxy, group: str
) -> None:
    """R10: the retry counter, written by several senders at once, loses no increment."""
    proxy.chaos("PutLogEvents", Chaos(throttle=0.3))
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=proxy.url, log_group_name=group, log_stream_name="{tenant}"
    )
    engine = make(exporter, max_concurrent_requests=8, requests_per_second=0,
                  max_export_batch_size=10)  # fmt: skip
    with ExitStackOfTenants(engine, 8) as logs:
        for number in range(60):
            for log in logs:
                log.info("line %d", number)
        assert engine.force_flush(60_000)
        stats = engine.stats()
    assert stats.exporter is not None
    assert proxy.injected["throttle"] > 5
    assert stats.exporter.retries["ThrottlingException"] == proxy.injected["throttle"]
    assert stats.exporter.delivered == 8 * 60


class ExitStackOfTenants:
    """Loggers of ``count`` tenants (one resource each) through one processor."""

    def __init__(self, engine: CloudWatchLogRecordProcessor, count: int) -> None:
        self._contexts = [pipeline(engine, tenant=f"t{n}") for n in range(count)]

    def __enter__(self) -> list[Any]:
        return [context.__enter__() for context in self._contexts]

    def __exit__(self, *exc: object) -> None:
        for context in self._contexts:
            context.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _no_threads_left_behind() -> Any:
    yield
    for thread in threading.enumerate():
        if thread.name.startswith("OtelCloudWatchLogs"):
            thread.join(10)
