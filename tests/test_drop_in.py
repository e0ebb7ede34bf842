"""Drop-in parity: the SDK's own ``BatchLogRecordProcessor`` tests, through the public API,
against both processors.

The behaviours are those of opentelemetry-python's ``tests/logs/test_export.py`` and
``tests/shared_internal/test_batch_processor.py``, written anew where the originals read
private attributes (``_batch_processor``, ``_schedule_delay``): records go in through a
``LoggerProvider`` and a logging handler (``pipeline``), and what comes out is what the
exporter was given.
Where this processor differs on purpose, the drop-in table of docs/processor.md says so and
the tests below say which.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import weakref
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

from otel_cwlogs import CloudWatchLogRecordProcessor
from otel_cwlogs._sdk import ExporterBase, ExportResult, body_of

from .conftest import wait_until
from .test_processor import pipeline

PROCESSORS = [BatchLogRecordProcessor, CloudWatchLogRecordProcessor]
SDK_VERSION = tuple(int(part) for part in version("opentelemetry-sdk").split(".")[:2])


class Recording(ExporterBase):  # type: ignore[misc]
    """Keeps each batch it is given (the bodies)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[Any]] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def export(self, batch: Sequence[Any]) -> ExportResult:
        time.sleep(self.delay_s)
        with self.lock:
            self.batches.append([body_of(item) for item in batch])
        return ExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        pass

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return True

    @property
    def bodies(self) -> list[Any]:
        with self.lock:
            return [body for batch in self.batches for body in batch]


def flush(processor: Any) -> None:
    """force_flush, which must not report a failure (SDKs before 1.34 return None)."""
    assert processor.force_flush() is not False


def make(kind: Any, exporter: Any, **kwargs: Any) -> Any:
    if kind is CloudWatchLogRecordProcessor:
        kwargs["flush_on_sigterm"] = False
    return kind(exporter, **kwargs)


@pytest.fixture(params=PROCESSORS, ids=["stock", "cloudwatch"])
def kind(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_exported_once_the_batch_size_is_reached(kind: Any) -> None:
    exporter = Recording()
    processor = make(
        kind, exporter, max_queue_size=15, max_export_batch_size=15, schedule_delay_millis=30_000
    )
    started = time.monotonic()
    with pipeline(processor) as log:
        for i in range(15):
            log.info("r%d", i)
        wait_until(lambda: exporter.batches, timeout=1)
    assert time.monotonic() - started < 1  # the 30 s delay was cut short
    assert exporter.batches == [[f"r{i}" for i in range(15)]]
    processor.shutdown()


def test_exported_once_the_schedule_delay_is_reached(kind: Any) -> None:
    exporter = Recording()
    processor = make(kind, exporter, max_queue_size=15, max_export_batch_size=15,
                     schedule_delay_millis=100)  # fmt: skip
    with pipeline(processor) as log:
        log.info("lone")
        wait_until(lambda: exporter.batches, timeout=2)
    assert exporter.batches == [["lone"]]
    processor.shutdown()


def test_flushed_at_shutdown_and_dropped_after_it(kind: Any) -> None:
    exporter = Recording()
    processor = make(kind, exporter, max_queue_size=15, max_export_batch_size=15,
                     schedule_delay_millis=30_000)  # fmt: skip
    with pipeline(processor) as log:
        log.info("before")
        processor.shutdown()
        assert exporter.batches == [["before"]]
        log.info("after")
    assert exporter.batches == [["before"]]


def test_force_flush_exports_everything_queued(kind: Any) -> None:
    exporter = Recording()
    processor = make(kind, exporter, max_queue_size=15, max_export_batch_size=15,
                     schedule_delay_millis=30_000)  # fmt: skip
    with pipeline(processor) as log:
        for i in range(10):
            log.info("r%d", i)
        flush(processor)
    assert exporter.batches == [[f"r{i}" for i in range(10)]]
    processor.shutdown()


def test_batches_are_at_most_the_batch_size(kind: Any) -> None:
    exporter = Recording()
    processor = make(kind, exporter, max_export_batch_size=7, schedule_delay_millis=30_000)
    with pipeline(processor) as log:
        for i in range(50):
            log.info("r%d", i)
        flush(processor)
    assert exporter.bodies == [f"r{i}" for i in range(50)]
    assert all(len(batch) <= 7 for batch in exporter.batches)
    processor.shutdown()


def test_records_from_many_threads_are_all_exported(kind: Any) -> None:
    exporter = Recording()
    processor = make(kind, exporter, max_export_batch_size=64, schedule_delay_millis=50)
    with pipeline(processor) as log:

        def work(number: int) -> None:
            for i in range(200):
                log.info("t%d-%d", number, i)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        flush(processor)
    assert sorted(exporter.bodies) == sorted(f"t{n}-{i}" for n in range(8) for i in range(200))
    processor.shutdown()


def test_too_many_records_are_dropped_without_raising_or_blocking(kind: Any) -> None:
    exporter = Recording(delay_s=0.2)
    processor = make(kind, exporter, max_queue_size=5, max_export_batch_size=5,
                     schedule_delay_millis=30_000)  # fmt: skip
    started = time.monotonic()
    with pipeline(processor) as log:
        for i in range(100):
            log.info("r%d", i)
    assert time.monotonic() - started < 0.5
    processor.shutdown()
    assert 5 <= len(exporter.bodies) < 100


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_exports_its_own_records_only(kind: Any) -> None:
    exporter = Recording()
    processor = make(kind, exporter, max_queue_size=200, max_export_batch_size=10,
                     schedule_delay_millis=30_000)  # fmt: skip
    with pipeline(processor) as log:
        for i in range(9):
            log.info("parent %d", i)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its queue starts empty
            try:
                exporter.batches.clear()
                for i in range(100):
                    log.info("child %d", i)
                processor.force_flush()
                os.write(write, json.dumps(exporter.batches).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            child_batches = json.loads(pipe.read())
        os.waitpid(pid, 0)
        flush(processor)
    assert len(child_batches) == 10
    assert [b for batch in child_batches for b in batch] == [f"child {i}" for i in range(100)]
    assert exporter.batches == [[f"parent {i}" for i in range(9)]]
    processor.shutdown()


def test_a_shut_down_processor_is_garbage_collected(kind: Any) -> None:
    if kind is BatchLogRecordProcessor and SDK_VERSION < (1, 33):
        pytest.skip("the stock processor of this SDK is not collected after shutdown")
    processor = make(kind, Recording())
    ref = weakref.ref(processor)
    processor.shutdown()
    del processor
    gc.collect()
    assert ref() is None


def test_standard_variables_configure_both(kind: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "3")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "30000")
    exporter = Recording()
    processor = make(kind, exporter)
    with pipeline(processor) as log:
        for i in range(3):
            log.info("r%d", i)
        wait_until(lambda: exporter.batches, timeout=2)  # full at 3, not after 30 s
    assert exporter.batches == [["r0", "r1", "r2"]]
    processor.shutdown()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "abc"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "soon"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "1.5"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "x"),
    ],
)
def test_an_invalid_variable_is_logged_and_the_default_used(
    kind: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    variable: str, value: str,
) -> None:  # fmt: skip
    monkeypatch.setenv(variable, value)
    exporter = Recording()
    processor = make(kind, exporter)
    if kind is CloudWatchLogRecordProcessor:  # the SDK's filter holds back repeats of its line
        assert f"{variable}={value!r} is invalid" in caplog.text
    with pipeline(processor) as log:
        log.info("delivered")
        flush(processor)
    assert exporter.bodies == ["delivered"]
    processor.shutdown()


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_queue_size": 0},
        {"max_queue_size": -1},
        {"schedule_delay_millis": 0},
        {"schedule_delay_millis": -1},
        {"max_export_batch_size": 0},
        {"max_queue_size": 256, "max_export_batch_size": 512},
    ],
)
def test_invalid_arguments_raise_value_error(kind: Any, arguments: dict[str, int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each processor words it its own way)
        make(kind, Recording(), **arguments)
