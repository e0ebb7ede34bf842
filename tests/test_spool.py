"""The disk spool: an outage, a crash, a restart lose nothing that was acknowledged as spooled."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor
from otel_cwlogs.events import MESSAGE, TIMESTAMP, make_event
from otel_cwlogs.routing import Route
from otel_cwlogs.spool import (
    ABANDONED_TMP_S,
    Claim,
    Spool,
    decode,
    encode,
    prepare,
    route_key,
)

from .conftest import read_events, wait_until
from .faultproxy import FaultProxy
from .limits import Recorder
from .test_processor import pipeline

ROUTE = Route("/test/spool", "app", '{"type":"Service"}')

# -- the format and the directory ------------------------------------------------------------

pytestmark = pytest.mark.slow


@given(
    st.lists(st.tuples(st.integers(0, 2**41), st.text(min_size=1)), min_size=1, max_size=20),
    st.booleans(),
)
def test_a_segment_reads_back_as_written(pairs: list[tuple[int, str]], duplicates: bool) -> None:
    events = [make_event(timestamp, message) for timestamp, message in pairs]
    assert decode(encode(ROUTE, events, duplicates)) == (ROUTE, events, duplicates)


def test_a_torn_or_altered_segment_is_refused() -> None:
    data = encode(ROUTE, [make_event(1, "a"), make_event(2, "b")])
    for broken in (data[:-3], data[:-1] + b"x", data.replace(b'"b"', b'"c"')):
        with pytest.raises(ValueError, match=r"checksum|count"):
            decode(broken)


def test_segments_are_claimed_oldest_first_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    for stamp in (3000, 1000, 2000):
        assert spool.write(ROUTE, [make_event(stamp, f"at {stamp}")]) is None
    order = []
    while True:
        found = spool.claim()
        assert found.bad == 0
        if found.segment is None:
            break
        order.append(found.segment.events[0][TIMESTAMP])
        assert not found.segment.possible_duplicates
        others = {route_key(ROUTE)} if len(order) < 3 else set()
        assert found.on_disk == others  # the segments of its stream besides the one taken
        spool.done(found.segment)
    assert order == [1000, 2000, 3000]
    assert list(tmp_path.iterdir()) == []
    assert spool.claim().on_disk == frozenset()


HOLD = """
    import sys, time
    from pathlib import Path
    from otel_cwlogs.spool import Spool
    spool = Spool(Path(sys.argv[1]), 2**20)
    found = spool.claim()
    print(found.segment.events[0][1] if found.segment else "none", flush=True)
    time.sleep(120)
"""


def holder(directory: Path, *prefix: str) -> subprocess.Popen[str]:
    """A process that claims the oldest segment and holds it until killed."""
    process = subprocess.Popen(
        [*prefix, sys.executable, "-c", textwrap.dedent(HOLD), str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process


def test_a_claim_is_taken_over_once_its_holder_is_gone_and_not_before(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    assert spool.write(ROUTE, [make_event(1, "one")]) is None
    held = holder(tmp_path)
    assert held.stdout is not None
    assert held.stdout.readline().strip() == "one"
    assert spool.claim().segment is None  # alive: its claim is its own
    held.kill()
    held.wait()
    found = spool.claim()
    assert found.segment is not None
    assert found.segment.events[0][MESSAGE] == "one"
    assert found.segment.possible_duplicates  # it may have been delivered before it died


def pid_namespaces() -> bool:
    """Whether this machine lets the tests make PID namespaces (root, unshare, the right)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = ["unshare", "--pid", "--fork", "--kill-child", "true"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not pid_namespaces(), reason="needs root and unshare --pid")
def test_a_claim_of_pid_1_in_a_container_is_taken_over_by_the_next_pid_1(tmp_path: Path) -> None:
    """Two containers in a row, each with the application as PID 1 (a new PID namespace):
    the second takes over what the first claimed when it was killed, although a process 1
    is alive when it looks (itself)."""
    spool = Spool(tmp_path, 2**20)
    assert spool.write(ROUTE, [make_event(1, "claimed by the first container")]) is None
    container = ("unshare", "--pid", "--fork", "--kill-child")
    first = holder(tmp_path, *container)
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "claimed by the first container"
    assert [p.suffix for p in tmp_path.iterdir()] == [".claim"]
    first.kill()  # the container is killed: unshare, and with it its PID 1
    first.wait()
    second = holder(tmp_path, *container)
    assert second.stdout is not None
    try:
        assert second.stdout.readline().strip() == "claimed by the first container"
    finally:
        second.kill()
        second.wait()


def test_a_forked_child_does_not_keep_its_parents_claim(tmp_path: Path) -> None:
    code = """
        import os, sys, time
        from pathlib import Path
        from otel_cwlogs.spool import Spool
        spool = Spool(Path(sys.argv[1]), 2**20)
        found = spool.claim()
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        print("claimed", flush=True)
        time.sleep(120)
    """
    spool = Spool(tmp_path, 2**20)
    assert spool.write(ROUTE, [make_event(1, "one")]) is None
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    try:
        assert parent.stdout.readline().strip() == "claimed"
        parent.kill()  # the parent dies; its child lives on
        parent.wait()
        found = spool.claim()
        assert found.segment is not None
        assert found.segment.possible_duplicates
    finally:
        os.killpg(parent.pid, signal.SIGKILL)


def test_an_abandoned_temporary_file_is_removed_and_one_being_written_is_not(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, 2**20)
    abandoned = tmp_path / "1-2-0123456789abcdef-dead.tmp"
    abandoned.write_bytes(b"half a segm")
    old = time.time() - ABANDONED_TMP_S - 1
    os.utime(abandoned, (old, old))
    fresh = tmp_path / "1-3-0123456789abcdef-live.tmp"
    fresh.write_bytes(b"being written")
    locked = tmp_path / "1-4-0123456789abcdef-lock.tmp"
    locked.write_bytes(b"being written slowly")
    os.utime(locked, (old, old))
    with open(locked, "rb") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        assert spool.claim() == Claim(None, 0, frozenset())
    assert not abandoned.exists()
    assert fresh.exists()
    assert locked.exists()


def test_an_unreadable_segment_is_set_aside_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    assert spool.write(ROUTE, [make_event(1, "a"), make_event(2, "b")]) is None
    (segment_file,) = tmp_path.iterdir()
    segment_file.write_bytes(segment_file.read_bytes().replace(b'"b"]', b'"c"]'))
    found = spool.claim()
    assert (found.segment, found.bad) == (None, 2)
    assert [p.suffix for p in tmp_path.iterdir()] == [".bad"]


def test_the_directory_is_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    message = "x" * 100_000
    results = [spool.write(ROUTE, [make_event(i, message)]) for i in range(20)]
    assert results.count(None) == 10
    assert set(results[10:]) == {"spool_full"}
    assert spool.used_bytes() <= 2**20


# -- the processor, in this process ----------------------------------------------------------


def spooled_events(directory: Path) -> int:
    """Events in the segments of a spool (a segment renamed while it is read is skipped:
    the other processes sharing it claim and put back segments meanwhile)."""
    total = 0
    for path in directory.iterdir():
        if path.name.endswith((".seg", ".claim")):
            with contextlib.suppress(FileNotFoundError):
                total += json.loads(path.read_bytes().partition(b"\n")[0])["events"]
    return total


def make_pipeline(
    endpoint: str, group: str, session: Any, spool_dir: Path, **settings: Any
) -> tuple[CloudWatchLogExporter, CloudWatchLogRecordProcessor]:
    exporter = CloudWatchLogExporter(
        endpoint_url=endpoint,
        log_group_name=group,
        log_stream_name="app",
        session=session,
    )
    settings.setdefault("requests_per_second", 0)
    processor = CloudWatchLogRecordProcessor(
        exporter,
        schedule_delay_millis=100,
        flush_on_sigterm=False,
        spool_dir=str(spool_dir),
        **settings,
    )
    return exporter, processor


def identity(processor: CloudWatchLogRecordProcessor) -> tuple[int, int]:
    stats = processor.stats()
    assert stats.exporter is not None
    left = stats.received + stats.unspooled
    right = stats.exporter.delivered + stats.dropped_total + stats.spooled
    return left, right


def test_an_outage_goes_to_disk_and_comes_back_once_the_endpoint_does(
    proxy: FaultProxy, logs: Any, group: str, session: Any, tmp_path: Path
) -> None:
    _, processor = make_pipeline(proxy.url, group, session, tmp_path)
    proxy.down()
    with pipeline(processor) as log:
        for i in range(3000):
            log.info("during the outage %d", i)
        wait_until(lambda: processor.stats().spooled == 3000, timeout=20)
        assert spooled_events(tmp_path) == 3000
        assert processor.stats().queued == 0
        proxy.up()
        wait_until(lambda: processor.stats().unspooled == 3000, timeout=30)
        for i in range(100):
            log.info("after %d", i)
        assert processor.force_flush(20_000)
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert sorted(bodies) == sorted(
        [f"during the outage {i}" for i in range(3000)] + [f"after {i}" for i in range(100)]
    )
    assert list(tmp_path.iterdir()) == []
    left, right = identity(processor)
    assert left == right == 3100 + 3000


def test_a_full_spool_counts_its_drops(
    proxy: FaultProxy, group: str, session: Any, tmp_path: Path
) -> None:
    _, processor = make_pipeline(
        proxy.url,
        group,
        session,
        tmp_path,
        spool_max_bytes=2**20,
        max_export_batch_size=200,
        export_timeout_millis=4000,
    )
    proxy.down()
    with pipeline(processor) as log:
        for i in range(4000):
            log.info("%05d %s", i, "y" * 500)
    # a request still being sent when shutdown's time ran out is counted when it returns
    wait_until(lambda: identity(processor)[1] == 4000)
    stats = processor.stats()
    assert stats.dropped["spool_full"] > 0
    assert 0 < stats.spooled == spooled_events(tmp_path)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 2**20
    left, right = identity(processor)
    assert left == right == 4000


def test_what_the_memory_bound_cannot_hold_goes_to_disk(
    proxy: FaultProxy, group: str, session: Any, tmp_path: Path
) -> None:
    _, processor = make_pipeline(
        proxy.url,
        group,
        session,
        tmp_path,
        max_queue_size=4000,
        max_export_batch_size=500,
        requests_per_second=1,
    )
    with pipeline(processor) as log:
        for chunk in range(10):  # faster than one request a second can carry
            for i in range(1000):
                log.info("burst %d.%d", chunk, i)
            wait_until(lambda: processor.stats().queued <= 3000)
        stats = processor.stats()
        assert "queue_full" not in stats.dropped
        assert stats.spooled > 0
    left, right = identity(processor)
    assert left == right == 10_000 + processor.stats().unspooled


# -- real processes ----------------------------------------------------------------------------

CHILD = """
    import json, logging, os, sys, time
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

    provider = LoggerProvider()
    exporter = CloudWatchLogExporter(log_stream_name="app")
    processor = CloudWatchLogRecordProcessor(exporter, max_export_batch_size=int(sys.argv[2]))
    provider.add_log_record_processor(processor)
    logging.getLogger().addHandler(LoggingHandler(logger_provider=provider))
    logging.getLogger().setLevel(logging.INFO)
    log = logging.getLogger("worker")
    spool = sys.argv[3]

    if sys.argv[1] == "log":  # as fast as it goes, or at argv[5] records a second
        rate, start = float(sys.argv[5]), time.monotonic()
        for i in range(int(sys.argv[4])):
            log.info("record %05d", i)
            if rate:
                time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
        print("logged", flush=True)
        time.sleep(120)
    else:  # deliver what is spooled, then report
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            name.endswith((".seg", ".claim")) for name in os.listdir(spool)
        ):
            time.sleep(0.05)
        processor.shutdown()
        stats = processor.stats()
        print(json.dumps({
            "unspooled": stats.unspooled, "spooled": stats.spooled,
            "delivered": stats.exporter.delivered, "dropped": stats.dropped_total,
            "possible_duplicates": stats.exporter.possible_duplicates,
        }), flush=True)
"""


def child(
    mode: str,
    endpoint: str,
    group: str,
    spool: Path,
    batch: int = 10_000,
    count: int = 0,
    rate: float = 0,
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": endpoint,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_SPOOL_DIR": str(spool),
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_REQUESTS_PER_SECOND": "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-W",
            "ignore::DeprecationWarning",
            "-c",
            textwrap.dedent(CHILD),
            mode,
            str(batch),
            str(spool),
            str(count),
            str(rate),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def report(process: subprocess.Popen[str]) -> dict[str, int]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_sigkill_during_an_outage_then_a_restart_delivers_every_record_once(
    moto_endpoint: str, logs: Any, group: str, tmp_path: Path
) -> None:
    recorder = Recorder()
    proxy = FaultProxy(moto_endpoint, recorder=recorder)
    try:
        proxy.down()
        first = child("log", proxy.url, group, tmp_path, count=20_000)
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "logged"
        time.sleep(5)  # the scenario: killed 5 s after the last record
        first.kill()
        first.communicate(timeout=30)
        on_disk = spooled_events(tmp_path)
        print(f"spooled before the kill: {on_disk} of 20000")
        assert on_disk == 20_000
        proxy.up()
        second = report(child("deliver", proxy.url, group, tmp_path))
    finally:
        proxy.close()
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert sorted(bodies) == [f"record {i:05d}" for i in range(20_000)]
    assert second["unspooled"] == second["delivered"] == 20_000
    # a segment the killed process had claimed (to try the endpoint) counts as possibly
    # delivered twice: at most one request's worth
    print(f"possible duplicates counted: {second['possible_duplicates']}")
    assert second["possible_duplicates"] <= 10_000
    assert recorder.problems == []


def test_two_processes_sharing_a_spool_deliver_each_record_once(
    proxy: FaultProxy, logs: Any, group: str, session: Any, tmp_path: Path
) -> None:
    _, processor = make_pipeline(
        proxy.url, group, session, tmp_path, max_export_batch_size=300, export_timeout_millis=3000
    )
    proxy.down()
    with pipeline(processor) as log:
        for i in range(6000):
            log.info("shared %04d", i)
    assert spooled_events(tmp_path) == processor.stats().spooled == 6000
    proxy.up()
    workers = [child("deliver", proxy.url, group, tmp_path, batch=300) for _ in range(2)]
    reports = [report(worker) for worker in workers]
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert sorted(bodies) == [f"shared {i:04d}" for i in range(6000)]
    assert sum(r["unspooled"] for r in reports) == 6000
    assert all(r["unspooled"] > 0 for r in reports), reports
    assert list(tmp_path.iterdir()) == []


# -- an endpoint that never answers ----------------------------------------------------------


@pytest.mark.parametrize("stop", ["KILL", "TERM"])
def test_an_endpoint_that_never_answers_does_not_keep_records_from_the_spool(
    proxy: FaultProxy, group: str, tmp_path: Path, stop: str
) -> None:
    """Each attempt ends within the spool's hand-over time, so what is logged reaches the
    disk within the schedule delay and the hand-over (1 s + 2 s) even though no call ever
    returns; SIGKILL after that loses nothing, and SIGTERM spools what is in flight too."""
    proxy.hang("PutLogEvents")
    worker = child("log", proxy.url, group, tmp_path, batch=500, count=2000, rate=500)
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "logged"
    logged_at = time.monotonic()
    if stop == "KILL":
        wait_until(lambda: spooled_events(tmp_path) == 2000, timeout=10)
        print(f"all 2000 on disk {time.monotonic() - logged_at:.1f} s after the last record")
        assert time.monotonic() - logged_at < 1.0 + 2.0 + 1.5
        worker.kill()
    else:
        worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=30)
    assert spooled_events(tmp_path) == 2000
    assert proxy.hits["PutLogEvents"] >= 1


def test_a_request_in_flight_at_shutdown_is_spooled_as_a_possible_duplicate(
    proxy: FaultProxy, moto_endpoint: str, logs: Any, group: str, session: Any, tmp_path: Path
) -> None:
    """The attempt under way when the shutdown's time is up may still reach CloudWatch: its
    events go to disk flagged, and count as possible duplicates once delivered from there."""
    proxy.hang("PutLogEvents")
    _, processor = make_pipeline(proxy.url, group, session, tmp_path, shutdown_timeout_millis=600)
    with pipeline(processor) as log:
        for i in range(10):
            log.info("in flight %d", i)
        wait_until(lambda: proxy.hits["PutLogEvents"] >= 1)
    (segment,) = tmp_path.glob("*.seg")
    _, events, possible_duplicates = decode(segment.read_bytes())
    assert (len(events), possible_duplicates) == (10, True)
    assert identity(processor) == (10, 10)
    assert processor.stats().spooled == 10
    exporter, processor = make_pipeline(moto_endpoint, group, session, tmp_path)
    with pipeline(processor):
        wait_until(lambda: processor.stats().unspooled == 10, timeout=10)
    assert exporter.stats().possible_duplicates == 10
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert bodies == [f"in flight {i}" for i in range(10)]


# -- the directory -----------------------------------------------------------------------------


def test_the_spool_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        directory = prepare(tmp_path / "a" / "b" / "spool")
        spool = Spool(directory, 2**20)
        assert spool.write(ROUTE, [make_event(1, "private")]) is None
    finally:
        os.umask(old)
    for made in (tmp_path / "a", tmp_path / "a" / "b", directory):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
    (segment,) = directory.iterdir()
    assert stat.S_IMODE(segment.stat().st_mode) == 0o600


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` for the test (root only)."""
    path.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def unusable(kind: str, base: Path) -> Path:
    """A spool directory that cannot be used, of the ``kind`` given."""
    if kind == "a file":
        (base / "file").write_text("")
        return base / "file"
    if kind == "a dangling symlink":
        (base / "link").symlink_to(base / "nowhere")
        return base / "link"
    if kind == "under a file":
        (base / "file").write_text("")
        return base / "file" / "spool"
    if kind == "writable by others":
        (base / "shared").mkdir(mode=0o777)
        os.chmod(base / "shared", 0o777)
        return base / "shared"
    if kind == "writable by its group":
        (base / "team").mkdir()
        os.chmod(base / "team", 0o770)
        return base / "team"
    if kind == "another user's":
        (base / "theirs").mkdir(mode=0o700)
        os.chown(base / "theirs", 12345, 12345)
        return base / "theirs"
    assert kind == "read-only"
    return base / "ro" / "spool"


@pytest.mark.parametrize(
    "kind",
    [
        "a file",
        "a dangling symlink",
        "under a file",
        "writable by others",
        "writable by its group",
        "another user's",
        "read-only",
    ],
)
def test_a_spool_dir_that_cannot_be_used_costs_the_spool_not_the_logs(
    kind: str,
    tmp_path: Path,
    session: Any,
    moto_endpoint: str,
    logs: Any,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if kind in ("another user's", "read-only") and os.geteuid() != 0:
        pytest.skip("needs root (to give a directory away, or to mount one read-only)")
    with contextlib.ExitStack() as stack:
        if kind == "read-only":
            stack.enter_context(tmpfs(tmp_path / "ro", "ro,size=1m"))
        directory = unusable(kind, tmp_path)
        with caplog.at_level(logging.WARNING, logger="otel_cwlogs"):
            _, engine = make_pipeline(moto_endpoint, group, session, directory)
        said = [r.getMessage() for r in caplog.records if "spool_dir" in r.getMessage()]
        assert len(said) == 1, said
        assert f"spool_dir={str(directory)!r} cannot be used" in said[0]
        with pipeline(engine) as log:
            for i in range(100):
                log.info("still shipped %d", i)
            assert engine.force_flush(10_000)
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert bodies == [f"still shipped {i}" for i in range(100)]


def test_a_segment_of_another_user_is_left_alone_and_said_once(
    tmp_path: Path,
    session: Any,
    moto_endpoint: str,
    logs: Any,
    group: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A segment planted in the spool by another user is never delivered (it would go to
    whatever group it names): the processor leaves it and says so once."""
    if os.geteuid() != 0:
        pytest.skip("needs root (to give a file away)")
    directory = prepare(tmp_path / "spool")
    planted = Route(f"{group}/planted", "theirs")
    assert (
        Spool(directory, 2**20).write(planted, [make_event(int(time.time() * 1000), "x")]) is None
    )
    (segment,) = directory.glob("*.seg")
    os.chown(segment, 12345, 12345)
    foreign = "is not a file of this user; it is left alone"
    with caplog.at_level(logging.WARNING, logger="otel_cwlogs"):
        _, engine = make_pipeline(moto_endpoint, group, session, directory)
        with pipeline(engine) as log:
            log.info("mine")
            assert engine.force_flush(10_000)
            wait_until(lambda: foreign in caplog.text, timeout=10)
    assert [m for m in caplog.messages if foreign in m] == [
        f"spool: {segment.name} in {directory} {foreign}"
    ]
    assert segment.exists()
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert engine.stats().unspooled == 0


@pytest.mark.parametrize(("cause", "reason"), [("full", "disk_full"), ("ro", "spool_unwritable")])
def test_a_disk_that_fills_or_turns_read_only_is_its_own_drop_reason_and_says_how_many(
    cause: str,
    reason: str,
    tmp_path: Path,
    proxy: FaultProxy,
    group: str,
    session: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (to mount a small or read-only file system)")
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        _, engine = make_pipeline(
            proxy.url, group, session, disk / "spool", max_export_batch_size=100
        )
        if cause == "ro":
            remounted = subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=False)
            assert remounted.returncode == 0
        proxy.down()
        with caplog.at_level(logging.WARNING, logger="otel_cwlogs"), pipeline(engine) as log:
            for i in range(3000):
                log.info("%05d %s", i, "z" * 200)
        stats = engine.stats()
    left, right = identity(engine)
    assert left == right == 3000
    assert stats.dropped[reason] > 0
    assert set(stats.dropped) <= {reason, "in_flight_at_shutdown", "undelivered_at_shutdown"}
    said = [r.getMessage() for r in caplog.records]
    (line,) = [line for line in said if line.startswith("shutdown:")]
    assert f"{reason}={stats.dropped[reason]}" in line  # the total, in the shutdown's line
    if cause == "full":
        assert stats.spooled > 0  # what fitted is on disk


# -- order -------------------------------------------------------------------------------------


def test_a_stream_keeps_its_order_through_refusals_and_recovery(
    proxy: FaultProxy, logs: Any, group: str, session: Any, tmp_path: Path
) -> None:
    """An outage fills the spool: what it refuses waits in memory, behind what is on disk;
    once the endpoint is back, the stream's events arrive exactly in the order logged."""
    _, engine = make_pipeline(
        proxy.url,
        group,
        session,
        tmp_path,
        spool_max_bytes=2**20,
        max_export_batch_size=300,
        shutdown_timeout_millis=20_000,
    )
    proxy.down()
    lines = [f"{i:05d} {'o' * 300}" for i in range(3000)]
    with pipeline(engine) as log:
        for line in lines:
            log.info(line)
        wait_until(lambda: engine.stats().spooled > 0, timeout=20)
        streams = engine._workers._scheduler.streams
        refused = wait_until(lambda: [s for s in streams.values() if s.head], timeout=20)
        assert refused  # the spool is full: a request waits in memory, in front
        proxy.up()
        wait_until(lambda: engine.stats().exporter.delivered == 3000, timeout=60)  # type: ignore[union-attr]
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "app")]
    assert bodies == lines
    assert engine.stats().dropped_total == 0
