"""Settings: explicit keyword arguments first, then the environment, then defaults.

Every keyword ``foo`` is also read from ``OTEL_EXPORTER_CLOUDWATCH_LOGS_FOO``. A bad keyword
argument fails at construction with a :class:`~otel_cwlogs.errors.ConfigError` (a
``ValueError``) that names it, the value, and what is accepted. A bad value of a variable is,
as the OpenTelemetry specification asks, reported in one warning that names the variable and
the value, and treated as unset (:func:`ignoring_invalid_variables`; within
:func:`collecting_invalid_variables` it is collected instead, for ``otel-cwlogs check``). Where
each setting comes from is :meth:`ExporterConfig.sources` and :meth:`ProcessorConfig.sources`.
The standard AWS variables (``AWS_REGION``, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, ...) are left to boto3's own resolution.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Callable, TypeVar, cast

from ._diag import logger
from .errors import ConfigError
from .events import MAX_EVENT_BYTES, MIN_MAX_EVENT_BYTES, MessageFormat, Oversize, Selection

ENV_PREFIX = "OTEL_EXPORTER_CLOUDWATCH_LOGS_"

RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
"""AWS: the values PutRetentionPolicy accepts."""

MAX_TAGS = 50
_TAG_KEY = re.compile(r"[\w\s.:/=+\-@]{1,128}")
_TAG_VALUE = re.compile(r"[\w\s.:/=+\-@]{0,256}")

T = TypeVar("T")


STANDARD_PREFIX = "OTEL_BLRP_"

STANDARD_VARIABLES = {
    "schedule_delay_millis": "OTEL_BLRP_SCHEDULE_DELAY",
    "max_export_batch_size": "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
    "export_timeout_millis": "OTEL_BLRP_EXPORT_TIMEOUT",
    "max_queue_size": "OTEL_BLRP_MAX_QUEUE_SIZE",
}
"""The processor's settings that fall back on a standard ``BatchLogRecordProcessor`` variable."""

ARGUMENT = "argument"
"""The source of a setting given as a keyword argument (:meth:`ExporterConfig.sources`)."""

DEFAULT = "default"
"""The source of a setting nothing gives (:meth:`ExporterConfig.sources`)."""

_collected: contextvars.ContextVar[list[ConfigError] | None] = contextvars.ContextVar(
    "otel_cwlogs_collected", default=None
)


def env_name(keyword: str) -> str:
    return ENV_PREFIX + keyword.upper()


def ignoring_invalid_variables(build: Callable[[Mapping[str, str]], T]) -> T:
    """``build(environ)``, where a variable of the package whose value ``build`` refuses is
    reported once and left out: ``build`` runs again as if it were unset. A refused keyword
    argument (or anything else) is raised."""
    environ = dict(os.environ)
    while True:
        try:
            return build(environ)
        except ConfigError as error:
            name = error.setting
            if name not in environ or not name.startswith((ENV_PREFIX, STANDARD_PREFIX)):
                raise
            collected = _collected.get()
            if collected is None:
                logger.warning(
                    "%s=%r is invalid: %s; the variable is ignored", name, error.value, error.reason
                )
            else:
                collected.append(error)
            del environ[name]


@contextlib.contextmanager
def collecting_invalid_variables() -> Iterator[list[ConfigError]]:
    """Within: each variable :func:`ignoring_invalid_variables` leaves out is added to the list
    yielded, unlogged (the same variable once per refusal), and still left out."""
    collected: list[ConfigError] = []
    token = _collected.set(collected)
    try:
        yield collected
    finally:
        _collected.reset(token)


def setting_source(
    keyword: str, explicit: object, environ: Mapping[str, str], standard: str | None = None
) -> str:
    """Where a setting's value comes from, as :func:`resolve` (and the processor's fallback on
    ``standard``) pick it: :data:`ARGUMENT`, the name of a variable, or :data:`DEFAULT`."""
    if explicit is not None:
        return ARGUMENT
    own = environ.get(env_name(keyword), "")
    if own.strip():
        return env_name(keyword)
    if standard is not None and not own and environ.get(standard, "").strip():
        return standard
    return DEFAULT


def resolve(
    keyword: str,
    explicit: object,
    *,
    default: T,
    convert: Callable[[Any], T],
    accepted: str,
    environ: Mapping[str, str] | None = None,
) -> T:
    """The value of one setting: ``explicit`` if given, else its variable, else ``default``."""
    if explicit is not None:
        source, raw = keyword, explicit
    else:
        source = env_name(keyword)
        text = (os.environ if environ is None else environ).get(source, "").strip()
        if not text:
            return default
        raw = text
    try:
        return convert(raw)
    except (ValueError, TypeError):
        raise ConfigError(source, raw, f"expected {accepted}") from None


def to_str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    return value


def aws_profile(value: Any) -> str:
    """The name of a profile of the AWS config or credentials file (those botocore reads)."""
    import botocore.session

    name = to_str(value)
    if name not in botocore.session.Session().available_profiles:
        raise ValueError(value)
    return name


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
    raise ValueError(value)


def env_flag(variable: str, *, default: bool) -> bool:
    """A true/false variable; an invalid value is reported once and treated as unset."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        return to_bool(text)
    except ValueError:
        logger.warning(
            "%s=%r is invalid: expected true or false; the variable is ignored", variable, text
        )
        return default


def to_verify(value: Any) -> bool | str:
    """TLS verification: a boolean, or the path of a CA bundle that exists."""
    if isinstance(value, bool):
        return value
    try:
        return to_bool(value)
    except ValueError:
        if isinstance(value, str) and os.path.isfile(value):
            return value
        raise


def to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(value)
    return int(value)


def one_of(*options: T) -> Callable[[Any], T]:
    def convert(value: Any) -> T:
        if isinstance(value, str) and not isinstance(options[0], str):
            value = to_int(value)
        elif isinstance(value, str):
            value = value.strip().lower()
        if isinstance(value, bool) or value not in options:
            raise ValueError(value)
        return cast(T, value)

    return convert


def int_between(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        number = to_int(value)
        if not low <= number <= high:
            raise ValueError(value)
        return number

    return convert


def positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(value)
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError(value)
    return number


def matching(pattern: str) -> Callable[[Any], str]:
    """A string that matches ``pattern`` whole."""
    compiled = re.compile(pattern)

    def convert(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value.strip()):
            raise ValueError(value)
        return value.strip()

    return convert


def to_resource_selection(value: Any) -> str:
    """``all``, ``none``, names (a list, or ``a,b``) or ``-a,b`` (all but those)."""
    if isinstance(value, (list, tuple, frozenset, set)) and all(isinstance(v, str) for v in value):
        value = ",".join(value)
    if not isinstance(value, str):
        raise ValueError(value)
    Selection.parse(value)
    return value.strip()


LOG_GROUP_CLASSES = ("STANDARD", "INFREQUENT_ACCESS")


def to_group_class(value: Any) -> str:
    if not isinstance(value, str) or value.strip().upper() not in LOG_GROUP_CLASSES:
        raise ValueError(value)
    return value.strip().upper()


def to_tags(value: Any) -> dict[str, str]:
    """Tags for a created log group: a mapping, or ``key=value,key2=value2`` text."""
    if isinstance(value, str):
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(value)
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, Mapping) or len(value) > MAX_TAGS:
        raise ValueError(value)
    tags = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(value)
        if not _TAG_KEY.fullmatch(key) or key.startswith("aws:") or not _TAG_VALUE.fullmatch(item):
            raise ValueError(value)
        tags[key] = item
    return tags


@dataclass(frozen=True)
class ExporterConfig:
    """The exporter's resolved settings."""

    log_group_name: str | None
    log_stream_name: str | None
    region_name: str | None
    endpoint_url: str | None
    create_log_group: bool
    retention_in_days: int | None
    tags: dict[str, str]
    message_format: MessageFormat
    max_event_bytes: int
    oversize: Oversize
    export_timeout_millis: float
    verify: bool | str | None
    entity: bool
    profile_name: str | None
    role_arn: str | None
    role_session_name: str | None
    external_id: str | None
    log_group_class: str | None
    kms_key_id: str | None
    event_resource_attributes: str
    event_code_attributes: bool

    @classmethod
    def sources(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> dict[str, str]:
        """For each setting, where :meth:`resolve` with these arguments takes it from."""
        env = os.environ if environ is None else environ
        return {f.name: setting_source(f.name, explicit.get(f.name), env) for f in fields(cls)}

    @classmethod
    def resolve(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> ExporterConfig:
        def get(keyword: str, default: Any, convert: Callable[[Any], Any], accepted: str) -> Any:
            return resolve(
                keyword,
                explicit.get(keyword),
                default=default,
                convert=convert,
                accepted=accepted,
                environ=environ,
            )

        text = "a non-empty string"
        return cls(
            log_group_name=get("log_group_name", None, to_str, "a log group name or template"),
            log_stream_name=get("log_stream_name", None, to_str, "a log stream name or template"),
            region_name=get("region_name", None, to_str, text),
            endpoint_url=get("endpoint_url", None, to_str, "a URL"),
            create_log_group=get("create_log_group", True, to_bool, "true or false"),
            retention_in_days=get(
                "retention_in_days",
                None,
                one_of(*RETENTION_DAYS),
                "one of " + ", ".join(map(str, RETENTION_DAYS)),
            ),
            tags=get(
                "tags",
                {},
                to_tags,
                f"at most {MAX_TAGS} tags as key=value,key2=value2 (keys 1-128, values 0-256 of "
                "letters, digits, spaces and _ . : / = + - @; keys not starting with aws:)",
            ),
            message_format=get(
                "message_format", "json", one_of("json", "otlp", "body"), "json, otlp or body"
            ),
            max_event_bytes=get(
                "max_event_bytes",
                MAX_EVENT_BYTES,
                int_between(MIN_MAX_EVENT_BYTES, MAX_EVENT_BYTES),
                f"an integer from {MIN_MAX_EVENT_BYTES} to {MAX_EVENT_BYTES}",
            ),
            oversize=get("oversize", "truncate", one_of("truncate", "split"), "truncate or split"),
            export_timeout_millis=get(
                "export_timeout_millis", 30_000.0, positive_float, "a number of ms above 0"
            ),
            verify=get(
                "verify",
                None,
                to_verify,
                "true, false (no TLS certificate check) or the path of a CA bundle",
            ),
            entity=get("entity", True, to_bool, "true or false"),
            profile_name=get(
                "profile_name",
                None,
                aws_profile,
                "a profile of the AWS config or credentials file (AWS_CONFIG_FILE, "
                "AWS_SHARED_CREDENTIALS_FILE)",
            ),
            role_arn=get(
                "role_arn",
                None,
                matching(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}"),
                "an IAM role ARN such as arn:aws:iam::123456789012:role/log-writer",
            ),
            role_session_name=get(
                "role_session_name",
                None,
                matching(r"[\w+=,.@-]{2,64}"),
                "2 to 64 letters, digits or _+=,.@-",
            ),
            external_id=get(
                "external_id",
                None,
                matching(r"[\w+=,.@:/-]{2,1224}"),
                "2 to 1224 letters, digits or _+=,.@:/-",
            ),
            log_group_class=get(
                "log_group_class", None, to_group_class, "STANDARD or INFREQUENT_ACCESS"
            ),
            kms_key_id=get(
                "kms_key_id",
                None,
                matching(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[\w-]+"),
                "the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID)",
            ),
            event_resource_attributes=get(
                "event_resource_attributes",
                "all",
                to_resource_selection,
                "all, none, attribute names (a,b) or all but some (-a,b)",
            ),
            event_code_attributes=get("event_code_attributes", True, to_bool, "true or false"),
        )


def non_negative_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(value)
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError(value)
    return number


@dataclass(frozen=True)
class ProcessorConfig:
    """The processor's resolved settings.

    The four ``BatchLogRecordProcessor`` arguments are read, when not given, from
    ``OTEL_EXPORTER_CLOUDWATCH_LOGS_<NAME>`` and then from the standard ``OTEL_BLRP_*``
    variables, so a swap from the stock processor keeps its configuration.
    """

    schedule_delay_millis: float
    max_export_batch_size: int
    export_timeout_millis: float
    max_queue_size: int
    max_queue_bytes: int
    requests_per_second: float
    max_concurrent_requests: int
    shutdown_timeout_millis: float
    flush_on_sigterm: bool
    spool_dir: str | None
    spool_max_bytes: int

    @classmethod
    def sources(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> dict[str, str]:
        """For each setting, where :meth:`resolve` with these arguments takes it from (for
        ``shutdown_timeout_millis``, its other name ``sigterm_timeout_millis`` included)."""
        env = os.environ if environ is None else environ

        def source(keyword: str) -> str:
            return setting_source(
                keyword, explicit.get(keyword), env, STANDARD_VARIABLES.get(keyword)
            )

        found = {f.name: source(f.name) for f in fields(cls)}
        alias = source("sigterm_timeout_millis")
        if found["shutdown_timeout_millis"] != ARGUMENT and (
            alias == ARGUMENT or found["shutdown_timeout_millis"] == DEFAULT
        ):
            found["shutdown_timeout_millis"] = alias
        return found

    @classmethod
    def resolve(
        cls,
        *,
        cloudwatch: bool,
        environ: Mapping[str, str] | None = None,
        **explicit: Any,
    ) -> ProcessorConfig:
        env = os.environ if environ is None else environ

        def get(
            keyword: str,
            default: Any,
            convert: Callable[[Any], Any],
            accepted: str,
            standard: str | None = None,
        ) -> Any:
            value = explicit.get(keyword)
            if value is None and standard is not None and not env.get(env_name(keyword), ""):
                text = env.get(standard, "").strip()
                if text:  # an integer, as the SDK parses it, so a value means the same
                    return resolve(
                        standard,
                        text,
                        default=default,
                        convert=lambda raw: convert(int(raw)),
                        accepted=accepted.replace("a number", "an integer number"),
                    )
            return resolve(
                keyword, value, default=default, convert=convert, accepted=accepted, environ=env
            )

        def shutdown_timeout(get: Callable[..., Any]) -> float:
            """``shutdown_timeout_millis``, or its other name ``sigterm_timeout_millis``."""
            accepted = "a number of ms above 0 (keep it inside the orchestrator's grace period)"
            own = explicit.get("shutdown_timeout_millis")
            alias = explicit.get("sigterm_timeout_millis")
            if own is None and (
                alias is not None
                or (
                    not env.get(env_name("shutdown_timeout_millis"), "").strip()
                    and env.get(env_name("sigterm_timeout_millis"), "").strip()
                )
            ):
                return float(get("sigterm_timeout_millis", 5000.0, positive_float, accepted))
            return float(get("shutdown_timeout_millis", 5000.0, positive_float, accepted))

        def source_of(keyword: str, standard: str) -> str | None:
            """Where a setting is given: the keyword, its variable, the standard one, or None."""
            if explicit.get(keyword) is not None:
                return keyword
            return next((n for n in (env_name(keyword), standard) if env.get(n, "").strip()), None)

        max_batch = 10_000 if cloudwatch else 512
        max_queue_size = get(
            "max_queue_size",
            262_144,
            int_between(1, 2**31),
            "a positive integer",
            STANDARD_VARIABLES["max_queue_size"],
        )
        batch_source = source_of(
            "max_export_batch_size", STANDARD_VARIABLES["max_export_batch_size"]
        )
        config = cls(
            schedule_delay_millis=get(
                "schedule_delay_millis",
                1000.0,
                positive_float,
                "a number of ms above 0",
                STANDARD_VARIABLES["schedule_delay_millis"],
            ),
            max_export_batch_size=get(
                "max_export_batch_size",
                min(max_batch, max_queue_size),  # a smaller queue makes smaller batches
                int_between(1, max_batch if cloudwatch else 2**31),
                f"an integer from 1 to {max_batch}" if cloudwatch else "a positive integer",
                STANDARD_VARIABLES["max_export_batch_size"],
            ),
            export_timeout_millis=get(
                "export_timeout_millis",
                30_000.0,
                positive_float,
                "a number of ms above 0",
                STANDARD_VARIABLES["export_timeout_millis"],
            ),
            max_queue_size=max_queue_size,
            max_queue_bytes=get(
                "max_queue_bytes",
                128 * 2**20,
                int_between(2**20, 2**40),
                "an integer number of bytes from 1048576 (1 MiB)",
            ),
            requests_per_second=get(
                "requests_per_second",
                5.0,
                non_negative_float,
                "a number of requests per second per stream, 0 for no limit",
            ),
            max_concurrent_requests=get(
                "max_concurrent_requests", 4, int_between(1, 64), "an integer from 1 to 64"
            ),
            shutdown_timeout_millis=shutdown_timeout(get),
            flush_on_sigterm=get("flush_on_sigterm", True, to_bool, "true or false"),
            spool_dir=get("spool_dir", None, to_str, "a directory path"),
            spool_max_bytes=get(
                "spool_max_bytes",
                2**30,
                int_between(2**20, 2**50),
                "an integer number of bytes from 1048576 (1 MiB)",
            ),
        )
        if batch_source is not None and config.max_export_batch_size > config.max_queue_size:
            raise ConfigError(
                batch_source,
                config.max_export_batch_size,
                f"must not exceed max_queue_size ({config.max_queue_size})",
            )
        return config
