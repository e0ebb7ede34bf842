from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, Callable

import boto3
import pytest
from moto.server import ThreadedMotoServer

from .faultproxy import FaultProxy
from .limits import Recorder

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A CloudWatch Logs emulator (moto's server) on a free loopback port."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region; no package settings leak in from the environment."""
    for name in list(os.environ):
        if name.startswith(("OTEL_EXPORTER_CLOUDWATCH_LOGS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # no test asks the real instance metadata service (a link-local address) for anything
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Records every PutLogEvents request; the test fails if any broke a CloudWatch limit."""
    rec = Recorder()
    yield rec
    assert rec.problems == [], rec.problems


@pytest.fixture
def session(recorder: Recorder) -> boto3.session.Session:
    """A boto3 session whose clients report their PutLogEvents requests to ``recorder``."""
    sess = boto3.session.Session(region_name=REGION)
    recorder.attach(sess.events)
    return sess


@pytest.fixture
def logs(moto_endpoint: str) -> Any:
    """A client for reading back from the emulator (not recorded)."""
    return boto3.client("logs", region_name=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def group() -> str:
    """A log group name of this test's own."""
    return f"/test/{uuid.uuid4().hex}"


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()


@pytest.fixture
def checked(moto_endpoint: str, recorder: Recorder) -> Iterator[str]:
    """The URL of a proxy to the emulator that checks every PutLogEvents request against the
    limits: for exporters in other processes, whose botocore events a test cannot hook."""
    proxy = FaultProxy(moto_endpoint, recorder=recorder)
    yield proxy.url
    proxy.close()


@pytest.fixture
def recorded(moto_endpoint: str) -> Iterator[tuple[FaultProxy, Recorder]]:
    """A limit-checking proxy to the emulator that also notes which key signed what."""
    recorder = Recorder()
    proxy = FaultProxy(moto_endpoint, recorder=recorder)
    yield proxy, recorder
    proxy.close()
    assert recorder.problems == []


def keys_for(proxy: FaultProxy, operation: str) -> set[str]:
    """The access key ids that signed calls of ``operation`` through ``proxy``."""
    return {key for (op, key), _ in proxy.signed_with.items() if op == operation}


def read_events(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    """Every event of a stream, oldest first."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
        }
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        events.extend(page["events"])
        if page["nextForwardToken"] == token:
            return events
        token = page["nextForwardToken"]


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def stream_names(logs: Any, group: str) -> list[str]:
    return [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
