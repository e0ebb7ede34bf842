"""The README and the docs say what the code does: their Python blocks run, the configuration
table is the code's, and every relative link leads somewhere."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from otel_cwlogs import (
    CloudWatchLogExporter,
    CloudWatchLogRecordProcessor,
    _sdk_metrics,
    autoconfig,
)
from otel_cwlogs.config import ExporterConfig, ProcessorConfig, env_name

from .conftest import REGION, read_events

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("examples/**/*.md"))]
NOT_RUN = "<!-- not run -->"
"""Put on the line before a ``python`` block that is a fragment, not a program."""


def python_blocks(text: str) -> list[str]:
    """The ``python`` blocks of a markdown text, except those marked :data:`NOT_RUN`."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() != NOT_RUN:
            blocks.append(match.group(1))
    return blocks


LOG_CALL = re.compile(r"""\.(?:debug|info|warning|error|exception|critical)\(\s*(["'])(.*?)\1""")


def logged_patterns(code: str) -> list[re.Pattern[str]]:
    """For each logging call of a block, in order, a pattern its message matches."""
    patterns = []
    for match in LOG_CALL.finditer(code):
        parts = re.split(r"%[sdrif]", match.group(2))
        patterns.append(re.compile(".+?".join(map(re.escape, parts))))
    return patterns


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks_that_log() -> None:
    assert BLOCKS
    assert all(logged_patterns(block) for block in BLOCKS)


def region_of(code: str) -> str:
    """The region a block names (the emulator keeps each region apart), else the tests'."""
    match = re.search(r"region_name=[\"']([a-z0-9-]+)[\"']", code)
    return match.group(1) if match else REGION


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_a_readme_block_runs_and_its_records_arrive(
    index: int, moto_endpoint: str, group: str
) -> None:
    code = BLOCKS[index]
    logs = boto3.client("logs", region_name=region_of(code), endpoint_url=moto_endpoint)
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        env={
            **os.environ,
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_ENDPOINT_URL": moto_endpoint,
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_GROUP_NAME": group,
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_LOG_STREAM_NAME": "readme",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "otel_cwlogs:" not in result.stderr, result.stderr
    bodies = [json.loads(e["message"])["body"] for e in read_events(logs, group, "readme")]
    patterns = logged_patterns(code)
    assert len(bodies) == len(patterns), bodies
    for body, pattern in zip(bodies, patterns):
        assert pattern.fullmatch(body), (body, pattern.pattern)


# -- the configuration table ------------------------------------------------------------------


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def configuration_rows() -> list[list[str]]:
    """The cells of each row of the README's configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["setting", "environment variable", "default", "what it does"]
    assert set(lines[1]) <= {"|", "-"}
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert all(len(row) == len(header) for row in rows), rows
    return rows


def as_written(value: Any) -> str | None:
    """A default as the table writes it: as it would be set in its variable; None for unset."""
    if value is None or value == {}:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def defaults() -> dict[str, Any]:
    exporter = dataclasses.asdict(ExporterConfig.resolve(environ={}))
    processor = dataclasses.asdict(ProcessorConfig.resolve(cloudwatch=True, environ={}))
    shared = exporter.keys() & processor.keys()
    assert all(exporter[k] == processor[k] for k in shared), "a shared setting, two defaults"
    return {**exporter, **processor}


def standard_variables() -> dict[str, str]:
    """Each ``OTEL_BLRP_*`` variable the processor reads, and the setting it sets, found by
    setting each one that config.py names and seeing which setting changes."""
    source = inspect.getsource(sys.modules[ProcessorConfig.__module__])
    names = sorted(set(re.findall(r'"(OTEL_BLRP_[A-Z_]+)"', source)))
    assert names
    before = dataclasses.asdict(ProcessorConfig.resolve(cloudwatch=False, environ={}))
    found = {}
    for name in names:
        config = ProcessorConfig.resolve(cloudwatch=False, environ={name: "20000"})
        after = dataclasses.asdict(config)
        (changed,) = [k for k in before if before[k] != after[k]]
        found[name] = changed
    return found


def arguments() -> set[str]:
    return {
        name
        for cls in (CloudWatchLogExporter, CloudWatchLogRecordProcessor)
        for name in inspect.signature(cls).parameters
        if name != "exporter"
    }


VARIABLE_ONLY = {
    autoconfig.SWAP_VARIABLE: "true",
    autoconfig.FAST_HANDLER_VARIABLE: "true",
    _sdk_metrics.SWITCH: "false",
}
"""Variables the package reads outside config.py, and what it takes when they are unset."""


def test_the_configuration_table_is_the_codes() -> None:
    settings = defaults()
    standard = standard_variables()
    described: dict[str, list[str]] = {}
    variable_only = []
    for setting, variable, default, _ in configuration_rows():
        keywords, variables = code_spans(setting), code_spans(variable)
        if not keywords:
            assert setting == "(variable only)"
            (name,) = variables
            assert VARIABLE_ONLY.get(name) == code_spans(default)[0], (name, default)
            variable_only.append(name)
            continue
        assert set(keywords) <= arguments() | settings.keys(), keywords
        for keyword in keywords:
            assert keyword not in described, f"{keyword} is in two rows"
            described[keyword] = [variable, default]
        keyword = keywords[0]
        if keyword not in settings:  # arguments only, no variable
            assert variable == "(arguments only)", keyword
            continue
        own = [env_name(k) for k in keywords]
        blrp = sorted(name for name, field in standard.items() if field == keyword)
        assert variables == own[:1] + blrp + own[1:], (keyword, variables)
        written = as_written(settings[keyword])
        if written is None:
            assert default.startswith("unset"), (keyword, default)
        else:
            assert code_spans(default)[:1] == [written], (keyword, default, written)
    assert settings.keys() <= described.keys(), settings.keys() - described.keys()
    assert arguments() <= described.keys(), arguments() - described.keys()
    assert sorted(variable_only) == sorted(VARIABLE_ONLY)


# -- links ----------------------------------------------------------------------------------


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings."""
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        found.add(slug)
    return found


def links(text: str) -> list[str]:
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for link in links(text):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.is_file(), f"{page.name}: {link}"
        if anchor:
            assert anchor in anchors(target.read_text(encoding="utf-8")), f"{page.name}: {link}"
