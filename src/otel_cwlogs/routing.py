"""Resource attributes -> (log group, log stream), by name templates.

A template is text with ``{attribute.key}`` placeholders, filled from the record's resource,
e.g. ``/otel/{service.name}`` or ``{host.name}/{process.pid}``. Some keys have a value from
the running process when the resource lacks them: ``host.name`` (the host name),
``service.name`` (``unknown_service``), ``service.instance.id`` (a random id per process).
``process.pid`` is always the current process's id, so a forked child never writes to its
parent's stream. Any other missing key renders as ``undefined``, as in the OTel Collector.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._sdk import resource_attributes
from .entity import build_entity
from .errors import ConfigError

DEFAULT_GROUP_TEMPLATE = "/otel/{service.name}"
DEFAULT_STREAM_TEMPLATE = "{host.name}/{process.pid}/{service.instance.id}"

GROUP_NAMES_ATTRIBUTE = "aws.log.group.names"
STREAM_NAMES_ATTRIBUTE = "aws.log.stream.names"

MAX_NAME_LENGTH = 512
MISSING = "undefined"

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_GROUP_BAD_CHARS = re.compile(r"[^.\-_/#A-Za-z0-9]")
_STREAM_BAD_CHARS = re.compile(r"[:*]")
_CACHE_SIZE = 1024

Kind = Literal["group", "stream"]


def sanitize(name: str, kind: Kind) -> str:
    """Make a name CloudWatch accepts, replacing what it does not with ``_``.

    Group: 1-512 of ``[.-_/#A-Za-z0-9]``, not starting with ``aws/``. Stream: 1-512
    characters, no ``:`` or ``*``.
    """
    if kind == "group":
        name = _GROUP_BAD_CHARS.sub("_", name)
        if name.startswith("aws/"):
            name = "_" + name
    else:
        name = _STREAM_BAD_CHARS.sub("_", name)
    return name[:MAX_NAME_LENGTH] or MISSING


def name_problem(name: str, kind: Kind) -> str | None:
    """Why CloudWatch would refuse this name, or None."""
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        return f"must be 1 to {MAX_NAME_LENGTH} characters long (it has {len(name)})"
    if kind == "group":
        if _GROUP_BAD_CHARS.search(name):
            return "may only contain letters, digits and . - _ / #"
        if name.startswith("aws/"):
            return "must not start with 'aws/'"
    elif _STREAM_BAD_CHARS.search(name):
        return "must not contain ':' or '*'"
    return None


class Template:
    """A parsed name template; construction fails on one that can never give a valid name."""

    def __init__(self, text: str, kind: Kind, setting: str) -> None:
        self.text = text
        self.kind = kind
        if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
            raise ConfigError(setting, text, "has an unbalanced '{' or '}'")
        self.keys = [k.strip() for k in _PLACEHOLDER.findall(text)]
        if any(not k for k in self.keys):
            raise ConfigError(setting, text, "has an empty '{}' placeholder")
        literal = _PLACEHOLDER.sub("x", text)
        problem = name_problem(literal, kind)
        if problem is not None:
            accepted = (
                "a log group name template (letters, digits, . - _ / # and {attribute} "
                "placeholders; 1-512 characters; not starting with aws/)"
                if kind == "group"
                else "a log stream name template (no ':' or '*'; 1-512 characters)"
            )
            raise ConfigError(setting, text, f"{problem}; expected {accepted}")

    def render(self, lookup: Mapping[str, str]) -> str:
        name = _PLACEHOLDER.sub(lambda m: lookup.get(m.group(1).strip(), MISSING), self.text)
        return sanitize(name, self.kind)


@dataclass(frozen=True)
class Route:
    """Where a record goes, and the entity (JSON text) sent with it, if any."""

    group: str
    stream: str
    entity: str | None = None


def _first_name(value: Any) -> str | None:
    """The first name of an ``aws.log.*.names`` attribute (a list, or '&'-joined text)."""
    if isinstance(value, str):
        value = value.split("&")
    if isinstance(value, Sequence):
        for item in value:
            if isinstance(item, str) and item.strip():
                return item.strip()
    return None


class Router:
    """Maps a record's resource to its (group, stream), caching per resource object."""

    def __init__(
        self,
        log_group_name: str | None,
        log_stream_name: str | None,
        *,
        group_setting: str = "log_group_name",
        stream_setting: str = "log_stream_name",
        entity: bool = True,
    ) -> None:
        self._entity = entity
        self._explicit_group = log_group_name is not None
        self._explicit_stream = log_stream_name is not None
        self.group = Template(log_group_name or DEFAULT_GROUP_TEMPLATE, "group", group_setting)
        self.stream = Template(log_stream_name or DEFAULT_STREAM_TEMPLATE, "stream", stream_setting)
        self._cache: dict[int, tuple[object, Route]] = {}
        self.after_fork()

    def after_fork(self) -> None:
        """At construction and in a forked child: this process's pid and id, no routes yet."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._instance_id = os.urandom(8).hex()
        self._cache.clear()

    def route(self, resource: Any) -> Route:
        """The route of records with this SDK ``Resource`` (None: an empty resource)."""
        hit = self._cache.get(id(resource))  # one dict read: no lock needed to look
        if hit is not None and hit[0] is resource:
            return hit[1]
        with self._lock:
            route = self._compute(resource_attributes(resource), self._pid, self._instance_id)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[id(resource)] = (resource, route)
            return route

    def _compute(self, attributes: Mapping[str, Any], pid: int, instance_id: str) -> Route:
        lookup = {
            "host.name": socket.gethostname(),
            "service.name": "unknown_service",
            "service.instance.id": instance_id,
        }
        lookup.update(
            (key, value if isinstance(value, str) else str(value))
            for key, value in attributes.items()
            if isinstance(key, str) and value is not None
        )
        lookup["process.pid"] = str(pid)
        group = stream = None
        if not self._explicit_group:
            name = _first_name(attributes.get(GROUP_NAMES_ATTRIBUTE))
            group = sanitize(name, "group") if name else None
        if not self._explicit_stream:
            name = _first_name(attributes.get(STREAM_NAMES_ATTRIBUTE))
            stream = sanitize(name, "stream") if name else None
        return Route(
            group or self.group.render(lookup),
            stream or self.stream.render(lookup),
            build_entity(attributes) if self._entity else None,
        )
