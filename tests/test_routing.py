from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource

from otel_cwlogs import ConfigError
from otel_cwlogs.routing import Route, Router, name_problem, sanitize


def route(router: Router, attributes: dict[str, Any]) -> Route:
    """The (group, stream) of a resource; its entity is tested in test_entity.py."""
    got = router.route(Resource(attributes))
    return Route(got.group, got.stream)


def test_templates_fill_from_resource_attributes() -> None:
    router = Router("/otel/{service.name}/{deployment.environment}", "{host.name}/{process.pid}")
    got = route(
        router, {"service.name": "api", "deployment.environment": "prod", "host.name": "h1"}
    )
    assert got == Route("/otel/api/prod", f"h1/{os.getpid()}")


def test_defaults_group_by_service_and_stream_unique_per_process() -> None:
    router = Router(None, None)
    got = route(router, {"service.name": "billing"})
    assert got.group == "/otel/billing"
    host, pid, instance = got.stream.split("/")
    assert host == socket.gethostname()
    assert pid == str(os.getpid())
    assert len(instance) == 16
    assert Router(None, None).route(None).stream != got.stream
    assert route(router, {}).group == "/otel/unknown_service"


def test_forked_child_gets_its_own_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    router = Router(None, None)
    resource = Resource({"service.name": "a", "process.pid": 1})
    parent = router.route(resource)
    monkeypatch.setattr(os, "getpid", lambda: 999_999)
    router.after_fork()  # what the exporter calls in a forked child
    child = router.route(resource)
    assert child.group == parent.group
    assert child.stream != parent.stream
    assert "/999999/" in child.stream


def test_aws_log_names_attributes_name_the_group_and_stream() -> None:
    router = Router(None, None)
    attrs = {"aws.log.group.names": ("app-logs", "other"), "aws.log.stream.names": "s1&s2"}
    assert route(router, attrs) == Route("app-logs", "s1")
    explicit = Router("/explicit", "fixed")
    assert route(explicit, attrs) == Route("/explicit", "fixed")


def test_missing_attribute_renders_undefined() -> None:
    assert route(Router("/g/{k8s.pod.name}", "s"), {}).group == "/g/undefined"


def test_bad_values_from_the_resource_are_sanitized() -> None:
    router = Router("{service.name}", "{service.name}")
    got = route(router, {"service.name": "my app: v2*" + "x" * 600})
    assert got.group.startswith("my_app__v2_")
    assert got.stream.startswith("my app_ v2_")
    assert len(got.group) == len(got.stream) == 512
    assert name_problem(got.group, "group") is None
    assert name_problem(got.stream, "stream") is None
    assert route(router, {"service.name": "aws/lambda"}).group == "_aws/lambda"
    assert route(router, {"service.name": ""}).group == "undefined"


@pytest.mark.parametrize(
    ("group", "stream", "setting"),
    [
        ("bad group", "s", "log_group_name"),
        ("aws/reserved", "s", "log_group_name"),
        ("/g/{service.name", "s", "log_group_name"),
        ("/g/{}", "s", "log_group_name"),
        ("x" * 513, "s", "log_group_name"),
        ("/g", "a:b", "log_stream_name"),
        ("/g", "star*", "log_stream_name"),
    ],
)
def test_bad_templates_fail_at_construction_naming_the_setting(
    group: str, stream: str, setting: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Router(group, stream)
    assert info.value.setting == setting
    assert setting in str(info.value)


def test_sanitize_never_returns_an_invalid_name() -> None:
    for name in ["", ":", "*", "aws/x", "é" * 600, "ok"]:
        assert name_problem(sanitize(name, "group"), "group") is None
        assert name_problem(sanitize(name, "stream"), "stream") is None
