"""Real servers under ``opentelemetry-instrument``: gunicorn (sync workers, with and without
``--preload``) and uvicorn (``--workers 2``), stopped as an orchestrator stops them.

Each worker ships its own records (its own stream, named by its pid). SIGTERM to the master
right after a bounded load delivers every record; a worker killed with SIGKILL while the
endpoint is down loses nothing that its spool had taken (records reach the disk within the
schedule delay and the hand-over), and the workers that remain deliver what it left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import read_events, wait_until
from .faultproxy import FaultProxy
from .limits import Recorder
from .test_spool import spooled_events

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the servers' workers need fork"),
]

BIN = Path(sys.executable).parent
APP = """
    import logging, os, urllib.parse

    log = logging.getLogger("shop")
    log.setLevel(logging.INFO)


    def work(query):
        params = urllib.parse.parse_qs(query)
        request, lines = params["request"][0], int(params["lines"][0])
        for line in range(lines):
            log.info("request %s line %d", request, line)
        return str(os.getpid()).encode()


    def application(environ, start_response):
        body = work(environ.get("QUERY_STRING", ""))
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]


    async def asgi(scope, receive, send):
        body = work(scope["query_string"].decode())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
"""

SERVERS = {
    "gunicorn": ["gunicorn", "--workers", "3", "--worker-class", "sync", "app:application"],
    "gunicorn --preload": [
        "gunicorn", "--workers", "3", "--worker-class", "sync", "--preload", "app:application",
    ],
    "uvicorn": ["uvicorn", "--workers", "2", "--lifespan", "off", "app:asgi"],
}  # fmt: skip
BOOTED = {"gunicorn": ("Worker ready", 3), "uvicorn": ("Started server process", 2)}
"""What each worker says once it is up, and how many there are: a worker still starting
when the master gets SIGTERM misses it (the server's own race), so the load waits for all."""
GUNICORN_CONF = """
import sys

def post_worker_init(worker):  # its signal handlers are in place by now
    print(f"Worker ready: {worker.pid}", file=sys.stderr, flush=True)
"""
"""``gunicorn.conf.py``, which gunicorn reads from its working directory."""


class Output:
    """A process's stderr, read as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        self._stream = process.stderr
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def text(self) -> str:
        self._reader.join(10)
        return "".join(self.lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(
    server: str, tmp_path: Path, endpoint: str, group: str, **env: str
) -> Iterator[tuple[subprocess.Popen[str], str, Output]]:
    """The server running the app under opentelemetry-instrument, every worker up;
    (master, base URL, its stderr)."""
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "gunicorn.conf.py").write_text(GUNICORN_CONF)
    port = free_port()
    command = [*SERVERS[server]]
    command[0] = str(BIN / command[0])
    if server.startswith("gunicorn"):
        command[1:1] = ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "20"]
    else:
        command[1:1] = ["--host", "127.0.0.1", "--port", str(port)]
    master = subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), *command],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(tmp_path),
            "OTEL_LOGS_EXPORTER": "cloudwatch_logs",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": endpoint,
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": "{process.pid}",
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_REQUESTS_PER_SECOND": "0",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    output = Output(master)
    booted, workers = BOOTED[server.split(maxsplit=1)[0]]
    try:
        wait_until(
            lambda: (answers(url) and output.count(booted) == workers) or master.poll() is not None,
            timeout=60,
        )
        assert master.poll() is None, output.text()
        yield master, url, output
    finally:
        if master.poll() is None:
            os.killpg(master.pid, signal.SIGKILL)
            master.wait()


def answers(url: str) -> bool:
    try:
        get(url, "probe", 0)
    except (urllib.error.URLError, ConnectionError, OSError):
        return False
    return True


def get(url: str, request: str, lines: int) -> int:
    """One request that logs ``lines`` records; the pid of the worker that served it."""
    with urllib.request.urlopen(f"{url}/?request={request}&lines={lines}", timeout=30) as reply:
        return int(reply.read())


def load(url: str, requests: int, lines: int) -> dict[int, int]:
    """Requests one after the other; records logged, by worker pid."""
    logged: dict[int, int] = {}
    for number in range(requests):
        pid = get(url, str(number), lines)
        logged[pid] = logged.get(pid, 0) + lines
    return logged


def stop(master: subprocess.Popen[str], output: Output) -> tuple[float, str]:
    """SIGTERM to the master: (seconds until it exited, its stderr)."""
    started = time.monotonic()
    master.send_signal(signal.SIGTERM)
    master.wait(timeout=60)
    return time.monotonic() - started, output.text()


def delivered(logs: Any, group: str) -> list[str]:
    """Every body of the app's records in the group, across the workers' streams."""
    bodies = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        for event in read_events(logs, group, stream["logStreamName"]):
            body = json.loads(event["message"]).get("body")
            if isinstance(body, str) and body.startswith("request "):
                bodies.append(body)
    return bodies


def expected(requests: int, lines: int) -> list[str]:
    return [f"request {r} line {n}" for r in range(requests) for n in range(lines)]


@pytest.mark.parametrize("server", list(SERVERS))
def test_sigterm_to_the_master_right_after_a_load_delivers_every_record(
    server: str, checked: str, logs: Any, group: str, tmp_path: Path
) -> None:
    with serving(server, tmp_path, checked, group) as (master, url, output):
        logged = load(url, 30, 100)
        took, err = stop(master, output)
    print(f"{server}: {len(logged)} workers served; stopped in {took:.1f} s")
    assert master.returncode in (0, -signal.SIGTERM), err
    assert took < 10, err
    assert sorted(delivered(logs, group)) == sorted(expected(30, 100))


@pytest.mark.parametrize("server", ["gunicorn", "gunicorn --preload"])
def test_a_worker_killed_during_an_outage_loses_nothing_its_spool_took(
    server: str, moto_endpoint: str, logs: Any, group: str, tmp_path: Path
) -> None:
    recorder = Recorder()
    proxy = FaultProxy(moto_endpoint, recorder=recorder)
    spool = tmp_path / "spool"
    try:
        with serving(
            server, tmp_path, proxy.url, group, OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR=str(spool)
        ) as (master, url, output):
            proxy.down()
            logged = load(url, 30, 100)
            # within the schedule delay and the hand-over, all of it is on disk
            wait_until(lambda: spooled_events(spool) == 3000, timeout=15)
            victim = max(logged, key=lambda pid: logged[pid])
            os.kill(victim, signal.SIGKILL)
            proxy.up()
            # the other workers (and the one started in its place) deliver the spool
            wait_until(lambda: not spooled_events(spool), timeout=60)
            wait_until(lambda: output.count(BOOTED["gunicorn"][0]) == 4)  # and its replacement
            took, err = stop(master, output)
            assert took < 10, err
    finally:
        proxy.close()
    assert master.returncode in (0, -signal.SIGTERM), err
    bodies = delivered(logs, group)
    assert set(bodies) == set(expected(30, 100))
    print(f"{server}: worker {victim} killed with {logged[victim]} records; "
          f"{len(bodies) - 3000} delivered twice")  # fmt: skip
    assert len(bodies) - 3000 <= 1000  # at most the segment it held, counted as possible
    assert recorder.problems == []
