from __future__ import annotations

import os
import re
import socket
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource

from otel_cwlogs import ConfigError
from otel_cwlogs.routing import ROUTED_TO_DEFAULT, Route, Router, name_problem, sanitize

from .records import record


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


def by_record(router: Router, view: Any) -> tuple[Route, int]:
    """The (group, stream) of a record, and whether it was sent to the default route."""
    notes: Counter[str] = Counter()
    got = router.route_record(view, notes)
    return Route(got.group, got.stream), notes[ROUTED_TO_DEFAULT]


def test_templates_read_the_records_attributes_and_scope() -> None:
    router = Router("/app/{resource.service.name}/{attributes.job}", "{attributes.tenant}")
    assert router.by_record
    view = record(
        resource_attributes={"service.name": "api"},
        attributes={"tenant": "acme", "job": 7},
        scope=("billing.invoices", "1.2"),
    )
    assert by_record(router, view) == (Route("/app/api/7", "acme"), 0)
    scoped = Router("/s/{scope.name}", "{scope.name}@{scope.version}_{attributes.tenant}")
    assert by_record(scoped, view) == (Route("/s/billing.invoices", "billing.invoices@1.2_acme"), 0)
    assert by_record(scoped, record()) == (
        Route("/s/undefined", "undefined@undefined_undefined"),
        0,
    )


def test_bare_and_resource_placeholders_read_the_same_resource() -> None:
    attrs = {"service.name": "api", "k8s.pod.name": "p-1"}
    bare = route(Router("/g/{service.name}", "{k8s.pod.name}/{process.pid}"), attrs)
    explicit = route(
        Router("/g/{resource.service.name}", "{resource.k8s.pod.name}/{resource.process.pid}"),
        attrs,
    )
    assert bare == explicit == Route("/g/api", f"p-1/{os.getpid()}")
    assert not Router("/g/{resource.service.name}", "s").by_record


def test_record_values_are_rendered_and_sanitised_as_resource_values() -> None:
    router = Router("/t/{attributes.tenant}", "{attributes.tenant}")
    cases = {
        "a b:c*d": Route("/t/a_b_c_d", "a b_c_d"),
        7: Route("/t/7", "7"),
        True: Route("/t/True", "True"),
        ("x", "y"): Route("/t/__x____y__", "('x', 'y')"),
        "\ud800": Route("/t/_", "_"),
    }
    for value, expected in cases.items():
        assert by_record(router, record(attributes={"tenant": value})) == (expected, 0)
    assert by_record(router, record()) == (Route("/t/undefined", "undefined"), 0)


def test_records_with_the_same_values_share_one_route_object() -> None:
    router = Router("/g", "{attributes.tenant}")
    resource = Resource({"service.name": "svc"})
    notes: Counter[str] = Counter()
    first = router.route_record(record(resource=resource, attributes={"tenant": "a"}), notes)
    again = router.route_record(record(resource=resource, attributes={"tenant": "a"}), notes)
    other = router.route_record(record(resource=resource, attributes={"tenant": "b"}), notes)
    assert first is again
    assert other.stream == "b"
    assert first.entity == other.entity == router.route(resource).entity


@pytest.mark.parametrize(
    ("group", "stream", "tenant", "expected"),
    [
        ("/g", "{attributes.tenant}", "", "stream"),
        ("/g", "{attributes.tenant}", "x" * 513, "stream"),
        ("{attributes.tenant}", "s", "", "group"),
        ("{attributes.tenant}/logs", "s", "aws", "group"),
        ("/g/{attributes.tenant}", "s", "x" * 600, "group"),
    ],
)
def test_a_name_that_cannot_be_made_is_the_default_and_counted(
    group: str, stream: str, tenant: str, expected: str
) -> None:
    router = Router(group, stream)
    resource = Resource({"service.name": "svc"})
    default = router.default(resource)
    assert default is not None
    assert default.group == "/otel/svc"
    assert default.stream.startswith(f"{socket.gethostname()}/{os.getpid()}/")
    got, counted = by_record(router, record(resource=resource, attributes={"tenant": tenant}))
    assert counted == 1
    if expected == "stream":
        assert got == Route("/g", default.stream)
    else:
        assert got == Route(default.group, "s")
    assert router.unroutable is not None
    assert repr(group if expected == "group" else stream) in router.unroutable


def test_the_default_of_a_record_honours_the_resources_own_names() -> None:
    router = Router("/g", "{attributes.tenant}")
    resource = Resource({"aws.log.stream.names": "given"})
    got, counted = by_record(router, record(resource=resource, attributes={"tenant": ""}))
    assert (got, counted) == (Route("/g", "given"), 1)


def test_examples_show_the_parts_filled_per_record() -> None:
    router = Router("/app/{service.name}/{attributes.tenant}", "{scope.name}/{process.pid}")
    assert router.examples(Resource({"service.name": "api"})) == (
        "/app/api/<attributes.tenant>",
        f"<scope.name>/{os.getpid()}",
    )
    plain = Router("/app/{service.name}", "s")
    assert plain.examples(Resource({"service.name": "api"})) == ("/app/api", "s")


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("{scope.bogus}", "unknown placeholder {scope.bogus}"),
        ("{attributes.}", "{attributes.} without a key"),
        ("{attributes}", "{attributes} without a key"),
        ("{resource.}", "{resource.} without a key"),
        ("{scope}", "unknown placeholder {scope}: the scope's are {scope.name} and"),
        ("{attribute.tenant}", "unknown placeholder {attribute.tenant}"),
        ("{record.tenant}", "unknown placeholder {record.tenant}"),
    ],
)
def test_unknown_placeholders_fail_at_construction_naming_the_setting(
    template: str, said: str
) -> None:
    for kind in ("group", "stream"):
        templates = {"group": "/g", "stream": "s", kind: template}
        with pytest.raises(ConfigError) as info:
            Router(templates["group"], templates["stream"])
        assert info.value.setting == f"log_{kind}_name"
        assert said in str(info.value)


@pytest.mark.parametrize(
    "template", ["{attributes.tenant}", "{scope.name}", "{scope.version}", "{resource.host.name}"]
)
def test_the_record_and_resource_placeholders_are_accepted(template: str) -> None:
    Router(f"/g/{template}", template)


VALUES = st.one_of(
    st.none(),
    st.text(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.text(alphabet="aws/:*", max_size=8),
    st.text(min_size=500, max_size=700),
)


def rendered(value: Any) -> str:
    """A value as the rules render it (written apart from the router, as its oracle)."""
    return "undefined" if value is None else value if isinstance(value, str) else str(value)


@given(tenant=VALUES, job=VALUES, scope_name=st.one_of(st.none(), st.text()))
def test_any_record_values_give_valid_names_or_the_default(
    tenant: Any, job: Any, scope_name: str | None
) -> None:
    router = Router("{attributes.tenant}{attributes.job}", "{scope.name}{attributes.tenant}")
    resource = Resource({"service.name": "svc"})
    attributes = {k: v for k, v in (("tenant", tenant), ("job", job)) if v is not None}
    scope = {} if scope_name is None else {"scope": (scope_name, None)}
    got, counted = by_record(router, record(resource=resource, attributes=attributes, **scope))
    assert name_problem(got.group, "group") is None
    assert name_problem(got.stream, "stream") is None
    got.stream.encode("utf-8")
    group = re.sub(r"[^.\-_/#A-Za-z0-9]", "_", rendered(tenant) + rendered(job))
    stream = re.sub("[:*\ud800-\udfff]", "_", rendered(scope_name) + rendered(tenant))
    group_unusable = not 1 <= len(group) <= 512 or group.startswith("aws/")
    stream_unusable = not 1 <= len(stream) <= 512
    default = router.default(resource)
    assert default is not None
    assert got.group == (default.group if group_unusable else group)
    assert got.stream == (default.stream if stream_unusable else stream)
    assert counted == (group_unusable or stream_unusable)
