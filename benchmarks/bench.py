"""What shipping logs costs the application, per pipeline, on this machine.

    python benchmarks/bench.py                 # everything (or: tox -e bench)
    python benchmarks/bench.py --count 50000   # a smaller burst

One run starts one local CloudWatch-compatible endpoint (benchmarks/sink.py, which also
takes OTLP/HTTP), then runs each contender in a fresh process on the same records: a burst
of ``--count`` lines of about 110 bytes, and a mixed-size set. Contenders:

  a  the SDK floor: LoggingHandler + BatchLogRecordProcessor + an exporter that discards
  b  BatchLogRecordProcessor + CloudWatchLogExporter
  c  CloudWatchLogRecordProcessor + CloudWatchLogExporter, default settings
  c0 the same with requests_per_second=0 (CloudWatch has no per-stream quota since 2023)
  d  the transport floor: a raw botocore loop sending prebuilt 1 MiB requests
  e  BatchLogRecordProcessor + the OTLP/HTTP log exporter
  f  watchtower's CloudWatchLogHandler (plain logging, no OpenTelemetry)
  h  c with otel_cwlogs.LoggingHandler in place of the SDK's handler

Per contender: app-thread wall and CPU (time.thread_time) microseconds per logging call,
process CPU microseconds per record (all threads, until the last record is delivered),
records delivered per second (clock stopped at the last delivery), records lost, end-to-end
seconds, the mean PutLogEvents request size (MiB, as CloudWatch counts it) and peak RSS. A
last run bursts ``--burst`` records into contender c with a ``--queue-mib`` queue bound and
reports how far the RSS grew.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
CONTENDERS = ["a", "b", "c", "c0", "d", "e", "f", "h"]
GROUP, STREAM = "bench", "bench"


# -- records ---------------------------------------------------------------------------------


def small_lines(count: int) -> list[str]:
    rng = random.Random(1)
    words = ["user", "order", "paid", "cache", "miss", "GET", "/api/v1/items", "200", "ms"]
    lines = []
    for i in range(count):
        text = f"{i:07d} " + " ".join(rng.choice(words) for _ in range(20))
        lines.append((text + " " * 110)[:110])
    return lines


def mixed_lines(count: int) -> list[str]:
    rng = random.Random(2)
    lines = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.80:
            size = rng.randint(40, 300)
        elif roll < 0.97:
            size = rng.randint(300, 5_000)
        elif roll < 0.999:
            size = rng.randint(5_000, 64_000)
        else:
            size = rng.randint(64_000, 300_000)
        unit = rng.choice(["a", "é", "日"])
        lines.append(f"{i:07d} " + unit * (size // len(unit.encode())))
    return lines


DATASETS: dict[str, Callable[[int], list[str]]] = {"small": small_lines, "mixed": mixed_lines}


# -- contenders (each runs in its own process) -------------------------------------------------


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sink_stats(endpoint: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/stats", timeout=10) as response:
        return dict(json.loads(response.read()))


def wait_for_sink(endpoint: str, expected: int, quiet_s: float = 2.0) -> dict[str, Any]:
    """Sink counts once all expected records arrived, or nothing more came for quiet_s."""
    last = sink_stats(endpoint)
    changed = time.monotonic()
    while last["records"] < expected and time.monotonic() - changed < quiet_s:
        time.sleep(0.05)
        now = sink_stats(endpoint)
        if now["records"] != last["records"]:
            changed = time.monotonic()
        last = now
    return last


def otel_pipeline(processor: Any, handler_class: Any = None) -> tuple[logging.Logger, Any]:
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk.resources import Resource

    handler_class = handler_class or LoggingHandler
    provider = LoggerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_log_record_processor(processor)
    log = logging.getLogger("bench")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler_class(logger_provider=provider))
    return log, provider


def cloudwatch_exporter(endpoint: str) -> Any:
    from otel_cwlogs import CloudWatchLogExporter

    return CloudWatchLogExporter(
        endpoint_url=endpoint, region_name="us-east-1", log_group_name=GROUP, log_stream_name=STREAM
    )


class Discard:
    """Contender a's exporter: counts, notes the time, sends nothing."""

    def __init__(self) -> None:
        self.records = 0
        self.last_at = 0.0

    def export(self, batch: Sequence[Any]) -> Any:
        from otel_cwlogs._sdk import ExportResult

        self.records += len(batch)
        self.last_at = time.time()
        return ExportResult.SUCCESS


def make_contender(name: str, endpoint: str, **processor_args: Any) -> tuple[Any, ...]:
    """(emit, finish, local_counts) for one contender; local_counts is None for the sink."""
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    if name == "a":
        from otel_cwlogs._sdk import ExporterBase

        class DiscardExporter(Discard, ExporterBase):
            def shutdown(self, timeout_millis: float = 30_000) -> None:
                pass

            def force_flush(self, timeout_millis: float = 30_000) -> bool:
                return True

        exporter = DiscardExporter()
        log, provider = otel_pipeline(BatchLogRecordProcessor(exporter))
        return log.info, provider.shutdown, exporter
    if name == "b":
        log, provider = otel_pipeline(BatchLogRecordProcessor(cloudwatch_exporter(endpoint)))
        return log.info, provider.shutdown, None
    if name in ("c", "c0", "h"):
        from otel_cwlogs import CloudWatchLogRecordProcessor, LoggingHandler

        if name == "c0":
            processor_args["requests_per_second"] = 0
        processor = CloudWatchLogRecordProcessor(cloudwatch_exporter(endpoint), **processor_args)
        log, provider = otel_pipeline(processor, LoggingHandler if name == "h" else None)
        return log.info, provider.shutdown, None
    if name == "e":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")
        log, provider = otel_pipeline(BatchLogRecordProcessor(exporter))
        return log.info, provider.shutdown, None
    if name == "f":
        import boto3
        import watchtower

        client = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1")
        handler = watchtower.CloudWatchLogHandler(
            log_group_name=GROUP, log_stream_name=STREAM, boto3_client=client,
            create_log_group=False,
        )  # fmt: skip
        log = logging.getLogger("bench")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)

        def finish() -> None:
            handler.flush()
            handler.close()

        return log.info, finish, None
    raise ValueError(name)


def raw_botocore(lines: list[str], endpoint: str) -> dict[str, Any]:
    """Contender d: prebuilt requests of up to 1 MiB, sent in a loop."""
    import boto3

    client = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1")
    now = int(time.time() * 1000)
    requests: list[list[dict[str, Any]]] = [[]]
    size = 0
    for line in lines:
        event_size = len(line.encode()) + 26
        if size + event_size > 1_048_576 or len(requests[-1]) == 10_000:
            requests.append([])
            size = 0
        requests[-1].append({"timestamp": now, "message": line})
        size += event_size
    started, cpu = time.time(), time.process_time()
    for events in requests:
        client.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=events)
    cpu = time.process_time() - cpu
    stats = wait_for_sink(endpoint, len(lines))
    return {
        "request_mib": stats["request_bytes"] / stats["requests"] / 2**20,
        "call_wall_us": None,
        "call_cpu_us": None,
        "process_cpu_us": cpu / len(lines) * 1e6,
        "delivered": stats["records"],
        "seconds": stats["last_at"] - started,
    }


def run_contender(name: str, dataset: str, count: int, endpoint: str) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    lines = DATASETS[dataset](count)
    if name == "d":
        result = raw_botocore(lines, endpoint)
    else:
        emit, finish, local = make_contender(name, endpoint)
        gc.collect()
        started, wall, cpu, process = (
            time.time(), time.perf_counter(), time.thread_time(), time.process_time()
        )  # fmt: skip
        for line in lines:
            emit(line)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        finish()
        request_mib = None
        if local is not None:
            delivered, last_at = local.records, local.last_at
        else:
            stats = wait_for_sink(endpoint, count)
            delivered, last_at = stats["records"], stats["last_at"]
            if stats["request_bytes"]:
                request_mib = stats["request_bytes"] / stats["requests"] / 2**20
        result = {
            "request_mib": request_mib,
            "call_wall_us": wall / count * 1e6,
            "call_cpu_us": cpu / count * 1e6,
            "process_cpu_us": (time.process_time() - process) / count * 1e6,
            "delivered": delivered,
            "seconds": last_at - started,
        }
    result.update(
        contender=name,
        dataset=dataset,
        count=count,
        lost=count - result["delivered"],
        per_second=result["delivered"] / result["seconds"] if result["seconds"] > 0 else 0,
        peak_rss_mib=rss_mib(),
    )
    return result


def run_rss(count: int, endpoint: str, queue_mib: int) -> dict[str, Any]:
    """Contender c under a burst, with a queue bound: how far does the RSS grow?"""
    warnings.simplefilter("ignore")
    lines = small_lines(count)
    emit, finish, _ = make_contender("c", endpoint, max_queue_bytes=queue_mib * 2**20)
    emit("warm-up")
    gc.collect()
    baseline = rss_mib()
    for line in lines:
        emit(line)
    finish()
    stats = wait_for_sink(endpoint, count + 1)
    return {
        "count": count,
        "queue_mib": queue_mib,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": rss_mib(),
        "growth_mib": rss_mib() - baseline,
        "delivered": stats["records"] - 1,
    }


# -- the orchestrator ---------------------------------------------------------------------------


def child(args: list[str], endpoint: str) -> dict[str, Any]:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/reset", method="POST"), timeout=10)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    out = subprocess.run(
        [sys.executable, __file__, *args, endpoint],
        capture_output=True, text=True, env=env, check=True, timeout=900,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| dataset | contender | app wall µs/call | app CPU µs/call | process CPU µs/record "
        "| delivered/s | lost | end-to-end s | MiB/request | peak RSS MiB |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r['dataset']} ({r['count']:,}) | {r['contender']} | {fmt(r['call_wall_us'])} "
        f"| {fmt(r['call_cpu_us'])} | {fmt(r['process_cpu_us'])} | {fmt(r['per_second'], 0)} "
        f"| {fmt(r['lost'])} | {fmt(r['seconds'], 2)} | {fmt(r['request_mib'], 2)} "
        f"| {fmt(r['peak_rss_mib'], 0)} |"
        for r in results
    ]
    return "\n".join([head, *rows])


RATIOS = [
    # (label, target, per-round value from the small dataset's results and the RSS run)
    (
        "P1 app CPU µs/call, c / a",
        "<= 1.03",
        lambda by, rss: by["c"]["call_cpu_us"] / by["a"]["call_cpu_us"],
    ),
    (
        "P2 process CPU/record, (c0 - a) / d",
        "<= 2.00",
        lambda by, rss: (
            (by["c0"]["process_cpu_us"] - by["a"]["process_cpu_us"]) / by["d"]["process_cpu_us"]
        ),
    ),
    (
        "P3 delivered/s, c0 / e",
        ">= 2.00",
        lambda by, rss: by["c0"]["per_second"] / by["e"]["per_second"],
    ),
    ("P3b end-to-end, c0 / a", "<= 1.50", lambda by, rss: by["c0"]["seconds"] / by["a"]["seconds"]),
    ("records lost by c", "== 0", lambda by, rss: float(by["c"]["lost"])),
    (
        "H1 app CPU µs/call, h / a",
        "<= 0.40",
        lambda by, rss: by["h"]["call_cpu_us"] / by["a"]["call_cpu_us"],
    ),
    (
        "H2 app CPU µs/call, h / f",
        "<= 0.70",
        lambda by, rss: by["h"]["call_cpu_us"] / by["f"]["call_cpu_us"],
    ),
    (
        "H3 process CPU/record, h / c",
        "<= 0.75",
        lambda by, rss: by["h"]["process_cpu_us"] / by["c"]["process_cpu_us"],
    ),
    ("records lost by h", "== 0", lambda by, rss: float(by["h"]["lost"])),
    ("MiB per request, c (default pace)", ">= 0.90", lambda by, rss: by["c"]["request_mib"]),
    ("RSS growth / queue bound", "<= 1.00", lambda by, rss: rss["growth_mib"] / rss["queue_mib"]),
]


def medians(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each figure of each (dataset, contender): its median over the rounds."""
    merged = []
    for position, first in enumerate(rounds[0]):
        row = dict(first)
        for key, value in first.items():
            if isinstance(value, (int, float)) and key != "count":
                row[key] = statistics.median(r[position][key] for r in rounds)
        merged.append(row)
    return merged


def targets(rounds: list[list[dict[str, Any]]], rss_runs: list[dict[str, Any]]) -> list[str]:
    """Each ratio per round, then its median and spread, against its target (those whose
    contenders ran)."""
    lines = []
    for label, bound, ratio in RATIOS:
        values = []
        for results, rss in zip(rounds, rss_runs):
            by = {r["contender"]: r for r in results if r["dataset"] == "small"}
            try:
                values.append(ratio(by, rss))
            except KeyError:
                break
        if len(values) < len(rounds):
            continue
        value = statistics.median(values)
        op, limit = bound.split()
        held = {"<=": value <= float(limit), ">=": value >= float(limit), "==": value == 0}[op]
        spread = ", ".join(f"{v:.2f}" for v in values)
        lines.append(
            f"- {label}: median {value:.2f} (rounds: {spread}; target {bound}) "
            f"{'held' if held else 'MISSED'}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--mixed-count", type=int, default=20_000)
    parser.add_argument("--burst", type=int, default=200_000)
    parser.add_argument("--queue-mib", type=int, default=64)
    parser.add_argument("--only", default=",".join(CONTENDERS))
    parser.add_argument("--rounds", type=int, default=3, help="runs of everything; medians")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "sink.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        endpoint = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        rounds: list[list[dict[str, Any]]] = []
        rss_runs = []
        for number in range(args.rounds):
            results = []
            for dataset, count in (("small", args.count), ("mixed", args.mixed_count)):
                for name in args.only.split(","):
                    results.append(child(["run", name, dataset, str(count)], endpoint))
                    print(f"  round {number + 1}: {dataset} {name}: done", file=sys.stderr)
            rounds.append(results)
            rss_runs.append(child(["rss", str(args.burst), str(args.queue_mib)], endpoint))
    finally:
        sink.terminate()
    print(f"Medians of {args.rounds} round(s), each contender a fresh process:")
    print(table(medians(rounds)))
    growth = statistics.median(r["growth_mib"] for r in rss_runs)
    rss = rss_runs[0]
    print(
        f"\nc under a {rss['count']:,}-record burst, queue bound {rss['queue_mib']} MiB: "
        f"RSS growth median +{growth:.0f} MiB "
        f"(rounds: {', '.join(format(r['growth_mib'], '.0f') for r in rss_runs)})"
    )
    met = targets(rounds, rss_runs)
    if met:
        print("\nTargets (small dataset), median of the per-round ratios:")
        print("\n".join(met))
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "rss": rss_runs}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        _, _, name, dataset, count, endpoint = sys.argv
        print(json.dumps(run_contender(name, dataset, int(count), endpoint)))
    elif len(sys.argv) > 1 and sys.argv[1] == "rss":
        _, _, count, queue_mib, endpoint = sys.argv
        print(json.dumps(run_rss(int(count), endpoint, int(queue_mib))))
    else:
        main()
