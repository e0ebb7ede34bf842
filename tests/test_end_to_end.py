"""Manual SDK setup, end to end against the emulator."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import boto3
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from otel_cwlogs import CloudWatchLogExporter

from .conftest import read_events
from .limits import Recorder

UNITS = ["a", "é", "日", "😀", "\u00a0", '"', "\\"]
MAX_MESSAGE = 1_048_576 - 26


def line_of(size: int, rng: random.Random) -> str:
    """Text of exactly ``size`` UTF-8 bytes, mixing one- to four-byte characters."""
    unit = rng.choice(UNITS)
    width = len(unit.encode("utf-8"))
    text = unit * (size // width)
    return text + "a" * (size - len(text.encode("utf-8")))


def mixed_lines(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    sizes = [rng.randint(1, 2000) for _ in range(count)]
    for index in rng.sample(range(count), 80):
        sizes[index] = rng.randint(2000, 900_000)
    for index in rng.sample(range(count), 20):
        sizes[index] = rng.randint(900_000, 2_000_000)
    sizes[0], sizes[1] = 1, 2_000_000
    return [f"{i:05d} " + line_of(size, rng) for i, size in enumerate(sizes)]


def test_ten_thousand_mixed_lines_arrive_in_order_within_every_limit(
    session: boto3.session.Session, moto_endpoint: str, logs: Any, group: str, recorder: Recorder
) -> None:
    lines = mixed_lines(10_000)
    exporter = CloudWatchLogExporter(
        session=session, endpoint_url=moto_endpoint, log_group_name=group, log_stream_name="app"
    )
    provider = LoggerProvider(resource=Resource.create({"service.name": "e2e"}))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter, max_queue_size=20_000, schedule_delay_millis=200)
    )
    logger = logging.getLogger("tests.e2e")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        for line in lines:
            logger.info(line)
        provider.force_flush(120_000)
    finally:
        logger.removeHandler(handler)
        provider.shutdown()

    got = read_events(logs, group, "app")
    assert len(got) == len(lines)
    truncated = 0
    for line, event in zip(lines, got):
        doc = json.loads(event["message"])
        assert len(event["message"].encode("utf-8")) <= MAX_MESSAGE
        if "truncated" in doc:
            truncated += 1
            assert line.startswith(doc["body"])
            assert len(doc["body"]) < len(line)
            assert doc["truncated"]["original_bytes"] > MAX_MESSAGE
            assert doc["truncated"]["content"] == "body"
        else:
            assert doc["body"] == line
        assert doc["resource"]["service.name"] == "e2e"
    assert truncated >= 10
    stamps = [e["timestamp"] for e in got]
    assert stamps == sorted(stamps)
    stats = exporter.stats()
    assert stats.delivered == len(lines)
    assert stats.dropped == {}
    assert stats.modified == {"truncated": truncated}
    assert len(recorder.requests) >= 10
    assert recorder.problems == []
