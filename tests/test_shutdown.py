"""One bound on stopping, whoever owns SIGTERM and whatever the endpoint does."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

from .conftest import read_events, wait_until
from .faultproxy import Chaos, FaultProxy
from .test_processor import pipeline
from .test_spool import child, report, spooled_events

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals"),
    pytest.mark.slow,
]

OWN_HANDLER = """
    import logging, os, signal, sys, time
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # the app's own, as gunicorn's
    provider = LoggerProvider()
    exporter = CloudWatchLogExporter(
        endpoint_url=os.environ["ENDPOINT"], log_group_name=os.environ["GROUP"],
        log_stream_name="app",
    )
    provider.add_log_record_processor(
        CloudWatchLogRecordProcessor(exporter, spool_dir=os.environ["SPOOL"])
    )
    log = logging.getLogger("app")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(logger_provider=provider))
    for i in range(1500):
        log.info("record %05d", i)
    print("ready", flush=True)
    time.sleep(120)
"""


def test_an_apps_own_sigterm_handler_and_a_20_second_endpoint_exit_within_10_s(
    moto_endpoint: str, checked: str, logs: Any, group: str, tmp_path: Path
) -> None:
    """The app exits through its own handler, so the shutdown at exit is what bounds the
    stop: within Docker's 10 s, and with a spool nothing is lost."""
    slow = FaultProxy(moto_endpoint)
    slow.chaos("PutLogEvents", Chaos(slow=1.0, slow_s=20))
    try:
        app = subprocess.Popen(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-c",
             textwrap.dedent(OWN_HANDLER)],
            env={**os.environ, "ENDPOINT": slow.url, "GROUP": group, "SPOOL": str(tmp_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert app.stdout is not None
        assert app.stdout.readline().strip() == "ready"
        started = time.monotonic()
        app.send_signal(signal.SIGTERM)
        _, err = app.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        slow.close()
    print(f"stopped in {took:.1f} s; {spooled_events(tmp_path)} of 1500 on disk")
    assert app.returncode == 0, err
    assert took < 10
    assert spooled_events(tmp_path) == 1500
    assert "written to the spool" in err  # what the line on stderr says
    second = report(child("deliver", checked, group, tmp_path, batch=500))
    assert second["unspooled"] == 1500
    bodies = {json.loads(e["message"])["body"] for e in read_events(logs, group, "app")}
    assert bodies == {f"record {i:05d}" for i in range(1500)}


def faulty(proxy: FaultProxy, fault: str) -> None:
    if fault == "hangs":
        proxy.hang("PutLogEvents")
    elif fault == "throttles":
        proxy.error("PutLogEvents", "ThrottlingException", times=10**6)
    elif fault == "refuses connections":
        proxy.down()
    else:
        proxy.chaos("PutLogEvents", Chaos(slow=1.0, slow_s=20))


@pytest.mark.parametrize("fault", ["hangs", "throttles", "refuses connections", "answers late"])
def test_shutdown_ends_within_its_timeout_whatever_the_endpoint_does(
    fault: str,
    session: boto3.session.Session,
    proxy: FaultProxy,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=proxy.url, log_group_name=group, log_stream_name="s"
    )
    engine = CloudWatchLogRecordProcessor(
        exporter, shutdown_timeout_millis=1500, flush_on_sigterm=False, max_export_batch_size=100
    )
    faulty(proxy, fault)
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"), pipeline(engine) as log:
        for i in range(500):
            log.info("record %d", i)
        streams = engine._workers._scheduler.streams
        wait_until(lambda: any(s.busy or s.failures for s in streams.values()))  # requests out
        started = time.monotonic()
        engine.shutdown()
        took = time.monotonic() - started
    stats = engine.stats()
    assert stats.exporter is not None
    assert took < 1.5 + 0.2
    assert stats.queued == 0
    assert stats.received == stats.exporter.delivered + stats.dropped_total == 500
    lost = {**stats.dropped, **stats.exporter.dropped}
    assert set(lost) <= {"in_flight_at_shutdown", "undelivered_at_shutdown"}
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("shutdown:")]
    assert f"of 500 log records received, {stats.dropped_total} dropped" in line


def test_an_unreachable_endpoint_costs_the_shutdown_bound_and_the_last_line_counts_it_all(
    session: boto3.session.Session, group: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=nobody, log_group_name=group, log_stream_name="s"
    )
    engine = CloudWatchLogRecordProcessor(exporter, flush_on_sigterm=False)  # the defaults
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"), pipeline(engine) as log:
        for i in range(3):
            log.info("record %d", i)
        wait_until(lambda: "could not deliver" in caplog.text, timeout=30)
        log.info("the last record, after the first report")
        started = time.monotonic()
        engine.shutdown()
        took = time.monotonic() - started
    stats = engine.stats()
    assert stats.exporter is not None
    assert took < engine.config.shutdown_timeout_millis / 1000 + 0.3
    assert (stats.received, stats.exporter.delivered) == (4, 0)
    assert caplog.messages[-1].startswith("shutdown: of 4 log records received, 4 dropped (")
