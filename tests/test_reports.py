"""The package's own reports reach a person: stderr when nothing else would show them."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from otel_cwlogs._diag import RateLimitedLog, StderrFallback, logger


class Keep(logging.Handler):
    """Keeps what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


class OTelLikeHandler(Keep):
    """Stands in for the OpenTelemetry logging handler (judged by its module)."""


OTelLikeHandler.__module__ = "opentelemetry.sdk._logs._internal"


@pytest.fixture
def root_handlers(monkeypatch: pytest.MonkeyPatch) -> list[logging.Handler]:
    """The root logger's handlers for the test: a list the test fills from its body.

    pytest adds its capturing handlers to the root logger once the fixtures are set up;
    :func:`only` sets the list to exactly the test's handlers after that.
    """
    handlers: list[logging.Handler] = []
    monkeypatch.setattr(logging.getLogger(), "handlers", handlers)
    monkeypatch.setattr(logger, "propagate", True)
    return handlers


def only(root: list[logging.Handler], *handlers: logging.Handler) -> None:
    root[:] = handlers


def test_the_package_logger_has_one_fallback() -> None:
    assert sum(isinstance(h, StderrFallback) for h in logger.handlers) == 1


def test_with_only_an_opentelemetry_handler_warnings_go_to_stderr(
    root_handlers: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    only(root_handlers, OTelLikeHandler())
    logger.warning("endpoint unreachable")
    logger.info("created log group")
    assert capsys.readouterr().err == "otel_cwlogs: WARNING: endpoint unreachable\n"


def test_with_no_handler_at_all_warnings_go_to_stderr_once(
    root_handlers: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    only(root_handlers)
    logger.error("access denied")
    assert capsys.readouterr().err == "otel_cwlogs: ERROR: access denied\n"


def test_a_console_handler_on_the_root_logger_is_used_instead(
    root_handlers: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    console = Keep()
    only(root_handlers, OTelLikeHandler(), console)
    logger.warning("queue full")
    assert console.seen == ["queue full"]
    assert capsys.readouterr().err == ""


def test_handlers_of_the_users_own_on_the_package_logger_are_used_instead(
    root_handlers: list[logging.Handler],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    only(root_handlers, OTelLikeHandler())
    own = Keep()
    monkeypatch.setattr(logger, "handlers", [*logger.handlers, own])
    monkeypatch.setattr(logger, "propagate", False)
    logger.warning("throttled")
    assert own.seen == ["throttled"]
    assert capsys.readouterr().err == ""


def test_a_handler_above_the_records_level_does_not_count(
    root_handlers: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    errors_only = Keep()
    errors_only.setLevel(logging.ERROR)
    only(root_handlers, errors_only)
    logger.warning("dropped")
    assert errors_only.seen == []
    assert capsys.readouterr().err == "otel_cwlogs: WARNING: dropped\n"


def test_rate_limited_reports_reach_stderr_and_not_the_pipeline(
    root_handlers: list[logging.Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_cwlogs._guard import protect_root_handlers

    otel = OTelLikeHandler()
    only(root_handlers, otel)
    protect_root_handlers()
    now = [0.0]
    report = RateLimitedLog(clock=lambda: now[0])
    for _ in range(3):
        report.log("unreachable", logging.ERROR, "could not deliver: %s", "refused")
    now[0] = 61.0
    report.log("unreachable", logging.ERROR, "could not deliver: %s", "refused")
    assert capsys.readouterr().err.splitlines() == [
        "otel_cwlogs: ERROR: could not deliver: refused",
        "otel_cwlogs: ERROR: could not deliver: refused "
        "(2 similar reports held back since the last one)",
    ]
    assert otel.seen == []  # the OpenTelemetry handler refused the package's own records


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_reports_even_if_a_parents_thread_held_the_lock() -> None:
    """A thread of the parent is inside a report when another thread forks: the child's
    copy of the lock stays held forever unless the child makes a new one."""
    report = RateLimitedLog(target=logging.getLogger("tests.reports.fork"))
    report._lock.acquire()
    pid = os.fork()
    if pid == 0:  # the child: no thread of the parent will ever release the lock here
        report.log("child", logging.INFO, "the child can report")
        os._exit(0)
    report._lock.release()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status)
            assert os.WEXITSTATUS(status) == 0
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the report lock")
