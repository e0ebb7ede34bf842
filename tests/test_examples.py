"""Every example runs, against the emulator, so none can rot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import read_events

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def to_emulator(endpoint: str, group: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": endpoint,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
        "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": "example",
    }


def documents(logs: Any, group: str) -> list[dict[str, Any]]:
    return [json.loads(e["message"]) for e in read_events(logs, group, "example")]


def test_manual_setup(moto_endpoint: str, logs: Any, group: str) -> None:
    out = run("manual_setup.py", **to_emulator(moto_endpoint, group))
    docs = documents(logs, group)
    assert [d["body"] for d in docs] == ["shop started", "stock low"]
    assert docs[1]["attributes"]["sku"] == "A-42"
    assert docs[1]["resource"]["deployment.environment"] == "dev"
    assert "delivered=2" in out


def test_structured_logging_carries_attributes_and_trace_context(
    moto_endpoint: str, logs: Any, group: str
) -> None:
    out = run("structured_logging.py", **to_emulator(moto_endpoint, group))
    match = re.search(r"trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})", out)
    assert match is not None, out
    inside, outside = documents(logs, group)
    assert inside["body"] == "charged card"
    assert inside["trace_id"] == match.group(1)
    assert inside["span_id"] == match.group(2)
    assert inside["flags"] & 1 == 1
    assert inside["attributes"]["payment.amount"] == 42.5
    assert inside["attributes"]["customer.tier"] == "gold"
    assert "trace_id" not in outside


def test_the_demo_shows_the_apps_records_read_back() -> None:
    out = run("demo.py")
    assert "Read back from log group /otel/demo-shop" in out
    for line in [
        "INFO  checkout service started",
        "INFO  order 1001 paid",
        "INFO  order 1002 paid",
        "WARN  stock low for A-42",
        "ERROR payment failed for order 1003",
    ]:
        assert line in out
