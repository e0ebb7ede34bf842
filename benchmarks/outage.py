"""Records lost across an outage and a restart, without and with the disk spool.

    python benchmarks/outage.py                      # a 60 s outage at 100 records/s
    python benchmarks/outage.py --outage 20 --rate 500 --stop TERM

The scenario, run once without a spool and once with ``spool_dir``: a worker logs ``--rate``
records per second while its CloudWatch endpoint is unreachable; after ``--outage`` seconds
it is stopped (SIGKILL by default, as by the OOM killer or a forced redeploy; ``--stop TERM``
for an orderly stop) and a new worker starts with the endpoint back (benchmarks/sink.py) and
the same spool directory, logs for five more seconds and exits normally. Lost is what both
workers logged minus what reached the endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import sink_stats, wait_for_sink  # noqa: E402


def worker(endpoint: str, spool: str, rate: float, seconds: float) -> None:
    """Log ``rate`` records a second for ``seconds``, then deliver what is spooled and exit."""
    import logging

    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler

    from otel_cwlogs import CloudWatchLogExporter, CloudWatchLogRecordProcessor

    exporter = CloudWatchLogExporter(
        endpoint_url=endpoint, log_group_name="outage", log_stream_name="worker"
    )
    processor = CloudWatchLogRecordProcessor(exporter, spool_dir=spool or None)
    provider = LoggerProvider()
    provider.add_log_record_processor(processor)
    log = logging.getLogger("worker")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(LoggingHandler(logger_provider=provider))
    print("started", flush=True)
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        log.info("record %d of process %d", sent, os.getpid())
        sent += 1
        print(sent, flush=True)  # what the parent counts if it kills this worker
        time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    deadline = time.monotonic() + 30
    while (
        spool
        and time.monotonic() < deadline
        and any(name.endswith((".seg", ".claim")) for name in os.listdir(spool))
    ):
        time.sleep(0.1)
    provider.shutdown()
    print(json.dumps({"logged": sent, "stats": str(processor.stats())}), flush=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_worker(endpoint: str, spool: str, rate: float, seconds: float) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="outage",
        AWS_SECRET_ACCESS_KEY="outage",
        AWS_DEFAULT_REGION="us-east-1",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "ignore",
            __file__,
            "worker",
            endpoint,
            spool,
            str(rate),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    return process


def scenario(sink: str, spool: str, args: argparse.Namespace) -> dict[str, Any]:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{sink}/reset", method="POST"), timeout=10)
    down = f"http://127.0.0.1:{closed_port()}"
    rate = args.rate
    first = start_worker(down, spool, rate, args.outage + 60)
    time.sleep(args.outage)
    first.send_signal(signal.SIGKILL if args.stop == "KILL" else signal.SIGTERM)
    out, _ = first.communicate(timeout=60)
    logged_first = int([line for line in out.splitlines() if line.isdigit()][-1])
    second = start_worker(sink, spool, rate, 5)
    out, _ = second.communicate(timeout=120)
    logged_second = int(json.loads(out.strip().splitlines()[-1])["logged"])
    delivered = wait_for_sink(sink, logged_first + logged_second)["records"]
    logged = logged_first + logged_second
    return {"logged": logged, "delivered": delivered, "lost": logged - delivered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=60.0, help="seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="records per second")
    parser.add_argument("--stop", choices=["KILL", "TERM"], default="KILL")
    args = parser.parse_args()
    sink_process = subprocess.Popen(
        [sys.executable, str(HERE / "sink.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink_process.stdout is not None
        sink = f"http://127.0.0.1:{sink_process.stdout.readline().strip()}"
        sink_stats(sink)
        rows = []
        for label in ("no spool", "spool_dir"):
            with tempfile.TemporaryDirectory() as directory:
                spool = directory if label == "spool_dir" else ""
                rows.append((label, scenario(sink, spool, args)))
    finally:
        sink_process.terminate()
    print(
        f"{args.outage:.0f} s outage at {args.rate:.0f} records/s, then SIG{args.stop} "
        "and a restart with the endpoint back:"
    )
    print("| worker | logged | delivered | lost |\n|---|---|---|---|")
    for label, row in rows:
        print(f"| {label} | {row['logged']:,} | {row['delivered']:,} | {row['lost']:,} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        _, _, endpoint, spool, rate, seconds = sys.argv
        worker(endpoint, spool, float(rate), float(seconds))
    else:
        main()
