"""Every record accounted for, under any faults: the real processor, its threads and a real
spool, with a delivery whose every attempt does what hypothesis says (delivered, partly,
asked again, throttled, failed for good, raised, slow).

After shutdown, ``received + unspooled == delivered + dropped_total + spooled`` with nothing
queued, and it stays so: what an attempt that outlived the shutdown does is not counted.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, processor
from otel_cwlogs.client import DeliveryError
from otel_cwlogs.delivery import CloudWatchDelivery, Tally
from otel_cwlogs.scheduler import Item, Kind, Outcome

from .test_processor import pipeline

pytestmark = pytest.mark.slow

KINDS = ["done", "partly", "again", "throttled", "failed", "invalid", "raise"]


class Faulty(CloudWatchDelivery):
    """Attempts answered by a script instead of CloudWatch."""

    script: random.Random
    weights: Sequence[int]
    slow_s: float

    def attempt(
        self, key: Hashable, items: Sequence[Item], copies: int
    ) -> tuple[Outcome, Tally | None]:
        (kind,) = self.script.choices(KINDS, self.weights)
        if self.slow_s and self.script.random() < 0.2:
            time.sleep(self.slow_s)
        items = list(items)
        if kind == "raise":
            raise RuntimeError("a bug in an attempt")
        if kind == "done":
            return Outcome(Kind.DONE), Tally(delivered=len(items), requests=1)
        if kind == "partly":
            cut = self.script.randint(0, len(items))
            return Outcome(Kind.AGAIN, items[cut:]), Tally(delivered=cut, requests=1)
        if kind == "again":
            return Outcome(Kind.AGAIN, items), Tally()
        error = DeliveryError("ThrottlingException", "rate", retryable=True)
        if kind == "throttled":
            return Outcome(Kind.RETRY, items, throttled=True, error=error), Tally(failed=1)
        code = "InvalidParameterException" if kind == "invalid" else "AccessDeniedException"
        error = DeliveryError(code, "no")
        return Outcome(Kind.FAILED, items, keep=not error.invalid, error=error), Tally(failed=1)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32),
    weights=st.lists(st.integers(0, 5), min_size=len(KINDS), max_size=len(KINDS)).filter(
        lambda w: w[0] > 0
    ),
    with_spool=st.booleans(),
    streams=st.integers(1, 6),
    records=st.integers(0, 3000),
    slow=st.booleans(),
)
def test_every_record_is_accounted_for_under_any_faults(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_module: pytest.MonkeyPatch,
    seed: int,
    weights: list[int],
    with_spool: bool,
    streams: int,
    records: int,
    slow: bool,
) -> None:
    Faulty.script = random.Random(seed)
    Faulty.weights = weights
    Faulty.slow_s = 0.3 if slow else 0.0
    spool: Path | None = tmp_path_factory.mktemp("spool") if with_spool else None
    exporter = CloudWatchLogExporter(
        endpoint_url="http://127.0.0.1:9", log_group_name="/ledger", log_stream_name="{tenant}"
    )
    engine = CloudWatchLogRecordProcessor(
        exporter,
        schedule_delay_millis=20,
        max_export_batch_size=50,
        max_queue_size=2000,
        requests_per_second=0,
        shutdown_timeout_millis=700,
        flush_on_sigterm=False,
        spool_dir=str(spool) if spool else None,
        spool_max_bytes=2**20,
    )
    loggers = [pipeline(engine, tenant=f"t{n}") for n in range(streams)]
    logs = [context.__enter__() for context in loggers]

    def write(part: int) -> None:
        for number in range(part, records, 2):
            logs[number % streams].info("record %d", number)

    writers = [threading.Thread(target=write, args=(part,)) for part in (0, 1)]
    for writer in writers:
        writer.start()
    engine.force_flush(200)
    for writer in writers:
        writer.join()
    engine.shutdown()
    after = engine.stats()
    assert after.queued == 0
    assert identity(after) == (records + after.unspooled, records + after.unspooled)
    for context in loggers:
        context.__exit__(None, None, None)
    for thread in threading.enumerate():  # attempts that outlived the shutdown end
        if thread.name.startswith("OtelCloudWatchLogs"):
            thread.join(5)
    assert engine.stats() == after  # and change nothing


def identity(stats: Any) -> tuple[int, int]:
    exporter = stats.exporter
    return (
        stats.received + stats.unspooled,
        exporter.delivered + stats.dropped_total + stats.spooled,
    )


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    """The faulty delivery in place of CloudWatch's for the module's tests."""
    patch = pytest.MonkeyPatch()
    patch.setattr(processor, "CloudWatchDelivery", Faulty)
    yield patch
    patch.undo()
