"""Stopped by SIGTERM (``docker stop``, ECS, Kubernetes), still delivered: real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor, sigterm

from .conftest import read_events

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals"),
    pytest.mark.slow,
]

SETUP = """
    import logging, os, signal, sys, time
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

    provider = LoggerProvider()
    exporter = CloudWatchLogExporter(
        endpoint_url=os.environ["ENDPOINT"], log_group_name=os.environ["GROUP"],
        log_stream_name="worker",
    )
    processor = CloudWatchLogRecordProcessor(exporter, sigterm_timeout_millis=3000)
    provider.add_log_record_processor(processor)
    logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("worker")
"""

WORKER = """
    for i in range(300):
        log.info("work item %d done", i)
    log.error("about to be stopped")
    print("ready", flush=True)
    time.sleep(60)
"""


def start(endpoint: str, group: str, *code: str) -> subprocess.Popen[str]:
    source = "".join(textwrap.dedent(part) for part in (SETUP, *code))
    return subprocess.Popen(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", source],
        env={**os.environ, "ENDPOINT": endpoint, "GROUP": group},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_when_ready(child: subprocess.Popen[str]) -> tuple[int, str, float]:
    """SIGTERM as soon as the child says it is ready: (exit status, stderr, seconds to exit)."""
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    started = time.monotonic()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    return child.returncode, err, time.monotonic() - started


def messages(logs: Any, group: str, stream: str = "worker") -> list[str]:
    import json

    return [json.loads(e["message"])["body"] for e in read_events(logs, group, stream)]


EXPECTED = [f"work item {i} done" for i in range(300)] + ["about to be stopped"]


def test_sigterm_within_the_schedule_delay_delivers_everything(
    checked: str, logs: Any, group: str
) -> None:
    status, err, took = stop_when_ready(start(checked, group, WORKER))
    assert status == -signal.SIGTERM, err  # ended by the signal, as without the package
    assert messages(logs, group) == EXPECTED
    assert took < 3.5


def test_an_applications_own_handler_is_left_alone(checked: str, logs: Any, group: str) -> None:
    code = """
        def stop(signum, frame):
            sys.exit(3)
        signal.signal(signal.SIGTERM, stop)
        processor2 = CloudWatchLogRecordProcessor(exporter)
        assert signal.getsignal(signal.SIGTERM) is stop
        processor2.shutdown()
    """
    child = start(checked, group, code, WORKER)
    status, err, _ = stop_when_ready(child)
    assert status == 3, err  # the app's own exit, whose at-exit shutdown flushed
    assert messages(logs, group) == EXPECTED


def test_turned_off_the_default_action_stands(checked: str, group: str) -> None:
    code = """
        processor.shutdown()
        quiet = CloudWatchLogRecordProcessor(exporter, flush_on_sigterm=False)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        print("ready", flush=True)
        time.sleep(60)
    """
    status, err, took = stop_when_ready(start(checked, group, code))
    assert status == -signal.SIGTERM, err
    assert took < 2


def test_an_unreachable_endpoint_still_ends_within_the_timeout(group: str) -> None:
    status, err, took = stop_when_ready(start("http://127.0.0.1:9", group, WORKER))
    assert status == -signal.SIGTERM, err
    assert took < 6  # 3 s of flushing, then the exit
    assert "not delivered" in err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_is_armed_for_its_own_records(checked: str, logs: Any, group: str) -> None:
    code = """
        pid = os.fork()
        if pid == 0:
            for i in range(50):
                log.info("child line %d", i)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            os._exit(9)
        _, status = os.waitpid(pid, 0)
        print("child", os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, flush=True)
    """
    child = start(checked, group, code)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert f"child {int(signal.SIGTERM)}" in out
    bodies = [m for m in messages(logs, group) if m.startswith("child line")]
    assert bodies == [f"child line {i}" for i in range(50)]


def test_arming_off_the_main_thread_installs_nothing(moto_endpoint: str, group: str) -> None:
    if signal.getsignal(signal.SIGTERM) is sigterm._on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    exporter = CloudWatchLogExporter(endpoint_url=moto_endpoint, log_group_name=group)
    made: list[CloudWatchLogRecordProcessor] = []
    thread = threading.Thread(target=lambda: made.append(CloudWatchLogRecordProcessor(exporter)))
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    made[0].shutdown()
