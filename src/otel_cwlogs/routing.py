"""Where a record goes: (log group, log stream), by name templates.

A template is text with placeholders, e.g. ``/otel/{service.name}`` or
``{host.name}/{process.pid}``, or ``/app/{attributes.tenant}``:

- ``{KEY}`` or ``{resource.KEY}``: an attribute of the record's resource. Some keys have a
  value from the running process when the resource lacks them: ``host.name`` (the host
  name), ``service.name`` (``unknown_service``), ``service.instance.id`` (a random id per
  process). ``process.pid`` is always the current process's id, so a forked child never
  writes to its parent's stream.
- ``{attributes.KEY}``: an attribute of the record itself (with the logging handler, what
  ``extra=`` gives it).
- ``{scope.name}``, ``{scope.version}``: the instrumentation scope (with the logging
  handler, the name of the logger that wrote the record).

A value that is not text renders as ``str(value)``; a missing one as ``undefined``, as in the
OTel Collector. Characters CloudWatch does not accept become ``_``. A name made from a
record's values that CloudWatch would still refuse (empty, longer than 512 characters, a
group starting with ``aws/``) is replaced by the default name for the record's resource, and
the record is counted as ``routed_to_default``.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Literal, TypeVar, Union

from ._sdk import resource_attributes, scope_fields
from .entity import build_entity
from .errors import ConfigError

DEFAULT_GROUP_TEMPLATE = "/otel/{service.name}"
DEFAULT_STREAM_TEMPLATE = "{host.name}/{process.pid}/{service.instance.id}"

GROUP_NAMES_ATTRIBUTE = "aws.log.group.names"
STREAM_NAMES_ATTRIBUTE = "aws.log.stream.names"

MAX_NAME_LENGTH = 512
MISSING = "undefined"
ROUTED_TO_DEFAULT = "routed_to_default"
"""The reason counted (among records modified) for a record sent to the default name."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_GROUP_BAD_CHARS = re.compile(r"[^.\-_/#A-Za-z0-9]")
_STREAM_BAD_CHARS = re.compile("[:*\ud800-\udfff]")
_CACHE_SIZE = 1024
_RECORD_CACHE_SIZE = 4096
_SCOPE_FIELDS = {"scope.name": 0, "scope.version": 1}
_MISTAKEN = ("attribute.", "record.")
"""Prefixes taken for a misspelt namespace rather than a resource attribute."""

Kind = Literal["group", "stream"]
T = TypeVar("T")


def sanitize(name: str, kind: Kind) -> str:
    """Make a name CloudWatch accepts, replacing what it does not with ``_``.

    Group: 1-512 of ``[.-_/#A-Za-z0-9]``, not starting with ``aws/``. Stream: 1-512
    characters, no ``:`` or ``*`` (nor a lone surrogate, which is not text UTF-8 can carry).
    """
    name = _replace_bad_chars(name, kind)
    if kind == "group" and name.startswith("aws/"):
        name = "_" + name
    return name[:MAX_NAME_LENGTH] or MISSING


def _replace_bad_chars(name: str, kind: Kind) -> str:
    return (_GROUP_BAD_CHARS if kind == "group" else _STREAM_BAD_CHARS).sub("_", name)


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


@dataclass(frozen=True)
class Slot:
    """A placeholder filled from the record: ``attributes.KEY``, ``scope.name`` or
    ``scope.version``."""

    key: str


Part = Union[str, Slot]


def _resource_key(key: str) -> str | None:
    """The resource attribute a placeholder names, or None for one filled from the record."""
    if key.startswith("resource."):
        return key[len("resource.") :]
    if key.startswith("attributes.") or key.startswith("scope."):
        return None
    return key


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
        for key in self.keys:
            problem = _placeholder_problem(key)
            if problem is not None:
                raise ConfigError(setting, text, problem)
        self.record_keys = tuple(dict.fromkeys(k for k in self.keys if _resource_key(k) is None))
        """The placeholders filled from the record, each once, in order."""
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
        pieces = _PLACEHOLDER.split(text)  # literal, key, literal, key, ..., literal
        self._parts: list[tuple[str, str | None]] = [
            (pieces[i], pieces[i + 1].strip() if i + 1 < len(pieces) else None)
            for i in range(0, len(pieces), 2)
        ]

    def render(self, lookup: Mapping[str, str]) -> str:
        """The name for a resource (a template that reads the record: with its parts
        ``undefined``)."""
        return sanitize("".join(self._fill(lookup, lambda key: MISSING)), self.kind)

    def partial(self, lookup: Mapping[str, str]) -> list[Part]:
        """The template with the resource's values in, and :class:`Slot` for the record's."""
        parts: list[Part] = []
        for part in self._fill(lookup, Slot):
            if isinstance(part, str) and parts and isinstance(parts[-1], str):
                parts[-1] += part
            elif part != "":
                parts.append(part)
        return parts

    def example(self, lookup: Mapping[str, str]) -> str:
        """The name for a resource, the record's parts shown as ``<attributes.KEY>``."""
        return "".join(self._fill(lookup, lambda key: f"<{key}>"))

    def _fill(self, lookup: Mapping[str, str], record: Callable[[str], T]) -> list[str | T]:
        parts: list[str | T] = []
        for literal, key in self._parts:
            parts.append(literal)
            if key is not None:
                resource_key = _resource_key(key)
                parts.append(
                    record(key) if resource_key is None else lookup.get(resource_key, MISSING)
                )
        return parts


def _placeholder_problem(key: str) -> str | None:
    """Why a placeholder can never be filled, or None."""
    for namespace in ("attributes", "resource"):
        if key == namespace or (key.startswith(namespace + ".") and not key[len(namespace) + 1 :]):
            return f"has a placeholder {{{key}}} without a key: expected {{{namespace}.KEY}}"
    if key == "scope" or (key.startswith("scope.") and key not in _SCOPE_FIELDS):
        return (
            f"has an unknown placeholder {{{key}}}: the scope's are {{scope.name}} and "
            "{scope.version}"
        )
    if key.startswith(_MISTAKEN):
        return (
            f"has an unknown placeholder {{{key}}}: expected {{attributes.KEY}} (the record's), "
            "{scope.name}, {scope.version}, or {resource.KEY} or {KEY} (the resource's)"
        )
    return None


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


def _text(value: Any) -> str:
    """A value as it goes into a name: ``str()`` of what is not text, ``undefined`` for None."""
    if value is None:
        return MISSING
    return value if isinstance(value, str) else str(value)


def _getter(key: str) -> Callable[[Any], str]:
    """What reads a placeholder's value from a record (a :class:`~._sdk.RecordView`)."""
    if key in _SCOPE_FIELDS:
        field = _SCOPE_FIELDS[key]
        return lambda record: _text(scope_fields(record.scope)[field])
    name = key[len("attributes.") :]
    return lambda record: _text(record.attributes.get(name))


Name = Union[str, list[Part]]
"""A name rendered for a resource, or its parts still to fill from each record."""


class _Routes:
    """The routes of one resource's records, when a template reads the record."""

    __slots__ = ("cache", "fallback", "group", "stream")

    def __init__(self, group: Name, stream: Name, fallback: Route) -> None:
        self.group = group
        self.stream = stream
        self.fallback = fallback
        """The route of a record whose names cannot be made (with the resource's entity)."""
        self.cache: dict[tuple[str, ...], tuple[Route, str | None]] = {}
        """Per record values: the route, and why it is the default (None: it is not)."""


class Router:
    """Maps a record to its (group, stream): per resource, cached per resource object; and,
    when a template reads the record (:attr:`by_record`), per record values too."""

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
        self._settings = {"group": group_setting, "stream": stream_setting}
        self.group = Template(log_group_name or DEFAULT_GROUP_TEMPLATE, "group", group_setting)
        self.stream = Template(log_stream_name or DEFAULT_STREAM_TEMPLATE, "stream", stream_setting)
        self._default_group = Template(DEFAULT_GROUP_TEMPLATE, "group", group_setting)
        self._default_stream = Template(DEFAULT_STREAM_TEMPLATE, "stream", stream_setting)
        keys = tuple(dict.fromkeys(self.group.record_keys + self.stream.record_keys))
        self.by_record = bool(keys)
        """A template reads the record: routes are per record (:meth:`route_record`)."""
        self._index = {key: i for i, key in enumerate(keys)}
        self._getters = [_getter(key) for key in keys]
        self.unroutable: str | None = None
        """What the last record sent to the default route was, for a report."""
        self._cache: dict[int, tuple[object, Route | _Routes]] = {}
        self.after_fork()

    def after_fork(self) -> None:
        """At construction and in a forked child: this process's pid and id, no routes yet."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._instance_id = os.urandom(8).hex()
        self._cache.clear()

    def route(self, resource: Any) -> Route:
        """The route of records with this SDK ``Resource`` (None: an empty resource); when a
        template reads the record, of a record without attributes or scope."""
        hit = self._cache.get(id(resource))  # one dict read: no lock needed to look
        routes = hit[1] if hit is not None and hit[0] is resource else self._routes(resource)
        if isinstance(routes, Route):
            return routes
        return self._fill(routes, tuple(MISSING for _ in self._getters))[0]

    def route_record(self, record: Any, notes: Counter[str]) -> Route:
        """The route of a record (a :class:`~._sdk.RecordView`); a record sent to the default
        route is counted in ``notes`` as ``routed_to_default``."""
        routes = self._routes(record.resource)
        if isinstance(routes, Route):
            return routes
        values = tuple([get(record) for get in self._getters])
        hit = routes.cache.get(values)
        if hit is None:
            hit = self._fill(routes, values)
            if len(routes.cache) >= _RECORD_CACHE_SIZE:
                routes.cache.clear()
            routes.cache[values] = hit
        if hit[1] is not None:
            notes[ROUTED_TO_DEFAULT] += 1
            self.unroutable = hit[1]
        return hit[0]

    def default(self, resource: Any) -> Route | None:
        """Where records with this resource go whose names cannot be made (the route with
        neither setting); None when the templates read the resource only."""
        routes = self._routes(resource)
        return None if isinstance(routes, Route) else routes.fallback

    def examples(self, resource: Any) -> tuple[str, str]:
        """(group, stream) for a resource, the parts filled per record shown as
        ``<attributes.KEY>``; the names themselves when the templates read the resource only."""
        if not self.by_record:
            route = self.route(resource)
            return route.group, route.stream
        attributes = resource_attributes(resource)
        lookup = self._lookup(attributes, self._pid, self._instance_id)
        group = self._given_name(attributes, "group")
        stream = self._given_name(attributes, "stream")
        return (
            group or self.group.example(lookup),
            stream or self.stream.example(lookup),
        )

    def _routes(self, resource: Any) -> Route | _Routes:
        hit = self._cache.get(id(resource))  # one dict read: no lock needed to look
        if hit is not None and hit[0] is resource:
            return hit[1]
        with self._lock:
            routes = self._compute(resource_attributes(resource), self._pid, self._instance_id)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[id(resource)] = (resource, routes)
            return routes

    def _lookup(self, attributes: Mapping[str, Any], pid: int, instance_id: str) -> dict[str, str]:
        lookup = {
            "host.name": socket.gethostname(),
            "service.name": "unknown_service",
            "service.instance.id": instance_id,
        }
        lookup.update(
            (key, _text(value))
            for key, value in attributes.items()
            if isinstance(key, str) and value is not None
        )
        lookup["process.pid"] = str(pid)
        return lookup

    def _given_name(
        self, attributes: Mapping[str, Any], kind: Kind, default: bool = False
    ) -> str | None:
        """The name the resource gives (``aws.log.*.names``), when the setting is unset (or,
        with ``default``, for the default route)."""
        explicit = self._explicit_group if kind == "group" else self._explicit_stream
        if explicit and not default:
            return None
        attribute = GROUP_NAMES_ATTRIBUTE if kind == "group" else STREAM_NAMES_ATTRIBUTE
        name = _first_name(attributes.get(attribute))
        return sanitize(name, kind) if name else None

    def _compute(
        self, attributes: Mapping[str, Any], pid: int, instance_id: str
    ) -> Route | _Routes:
        lookup = self._lookup(attributes, pid, instance_id)
        given_group = self._given_name(attributes, "group")
        given_stream = self._given_name(attributes, "stream")
        entity = build_entity(attributes) if self._entity else None
        if not self.by_record:
            return Route(
                given_group or self.group.render(lookup),
                given_stream or self.stream.render(lookup),
                entity,
            )
        fallback = Route(
            self._given_name(attributes, "group", True) or self._default_group.render(lookup),
            self._given_name(attributes, "stream", True) or self._default_stream.render(lookup),
            entity,
        )
        group: Name = given_group or self._name(self.group, lookup)
        stream: Name = given_stream or self._name(self.stream, lookup)
        return _Routes(group, stream, fallback)

    def _name(self, template: Template, lookup: Mapping[str, str]) -> Name:
        if not template.record_keys:
            return template.render(lookup)
        return template.partial(lookup)

    def _fill(self, routes: _Routes, values: tuple[str, ...]) -> tuple[Route, str | None]:
        """The route for a record's values, and why it is the default (or None)."""
        fallback = routes.fallback
        group, why_group = self._made(routes.group, values, "group", fallback.group)
        stream, why_stream = self._made(routes.stream, values, "stream", fallback.stream)
        return Route(group, stream, fallback.entity), why_group or why_stream

    def _made(
        self, name: Name, values: tuple[str, ...], kind: Kind, fallback: str
    ) -> tuple[str, str | None]:
        if isinstance(name, str):
            return name, None
        index = self._index
        text = "".join(part if isinstance(part, str) else values[index[part.key]] for part in name)
        text = _replace_bad_chars(text, kind)
        problem = name_problem(text, kind)
        if problem is None:
            return text, None
        template = self.group if kind == "group" else self.stream
        shown = text if len(text) <= 80 else text[:77] + "..."
        return fallback, (
            f"{self._settings[kind]} {template.text!r} gave {shown!r} for a record, which "
            f"{problem}; sent to log {kind} {fallback!r}"
        )
