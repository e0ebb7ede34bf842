"""The AWS edge: PutLogEvents with tokens, group/stream creation, and one retry policy.

Every call made here runs guarded (see :mod:`otel_cwlogs._guard`): instrumentation is
suppressed, and what botocore and urllib3 log meanwhile stays out of the pipeline.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from ._diag import RateLimitedLog, logger
from ._guard import guarded
from .credentials import region_from_instance_metadata
from .errors import ConfigError
from .events import LogEvent
from .pacing import CREATE_LOG_GROUP_RATE, CREATE_LOG_STREAM_RATE, Slots
from .routing import Route

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "OperationAbortedException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
"""Error codes that say "try again later". Anything else (InvalidParameterException,
AccessDeniedException, ...) fails at once, except credential trouble (see
:class:`LogsEdge`)."""

REFUSED_KEY_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidSignatureException",
    }
)
"""Error codes that say the key a request was signed with is not, or no longer, valid: the
credential chain, read again, may hold a newer one (a rotated key, a renewed token)."""

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)

INVALID_REQUEST_CODES = frozenset(
    {"InvalidParameterException", "SerializationException", "ValidationException"}
)
"""Error codes that say the request itself is wrong: no later try can succeed."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def _http_status(exc: BaseException) -> int:
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else 0
    return 0


_PLACEHOLDER = [{"timestamp": 0, "message": "-"}]
"""What botocore is given as events; the body sent is the one staged (see _swap_body)."""

_CONTROL_BYTES = bytes(range(32))


def events_json(events: Sequence[LogEvent]) -> bytes:
    """The events of a PutLogEvents body's ``logEvents`` array (without its brackets), as
    ``json.dumps`` would write them.

    A message without control characters only needs its backslashes and quotes escaped,
    which the UTF-8 bytes do in two C-speed passes (messages in the ``json`` layout never
    have any); others go through ``json.dumps``.
    """
    parts = []
    for timestamp, message, _ in events:
        data = message.encode("utf-8")
        if len(data.translate(None, _CONTROL_BYTES)) == len(data):
            data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        else:
            data = json.dumps(message, ensure_ascii=False)[1:-1].encode("utf-8")
        parts.append(b'{"timestamp":%d,"message":"%b"}' % (timestamp, data))
    return b",".join(parts)


class DeliveryError(Exception):
    """A request that could not be delivered; ``code`` is the AWS error code or cause.

    ``retryable``: the cause was passing (throttling, 5xx, the network) and only time ran
    out, so the same request may succeed later.
    """

    def __init__(
        self, code: str, detail: str, retryable: bool = False, maybe_sent: bool = False
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.retryable = retryable
        self.maybe_sent = maybe_sent
        """An attempt may have reached the service: sent again, the events may be doubled."""

    @property
    def invalid(self) -> bool:
        """The service called the request itself invalid: sending it again cannot help."""
        return self.code in INVALID_REQUEST_CODES

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLING_CODES


def maybe_sent(exc: BaseException) -> bool:
    """Whether a failed call may have reached the service (its response was lost)."""
    return isinstance(exc, botocore.exceptions.HTTPClientError) and not isinstance(
        exc, botocore.exceptions.ConnectionError
    )


def key_refused(exc: BaseException) -> bool:
    """Whether a call failed for its credentials: the service refused the key it was signed
    with, or the chain gave none (or half of one, as a file read while being rewritten)."""
    return error_code(exc) in REFUSED_KEY_CODES or isinstance(
        exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)
    )


def is_retryable(exc: BaseException) -> bool:
    """Whether a failure is passing: throttling, a 5xx, the network, a credential provider
    that failed to fetch (STS, the container or instance credentials endpoint)."""
    if isinstance(
        exc,
        (
            botocore.exceptions.ConnectionError,
            botocore.exceptions.HTTPClientError,
            botocore.exceptions.CredentialRetrievalError,
        ),
    ):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        return error_code(exc) in RETRYABLE_CODES or _http_status(exc) >= 500
    return False


def delivery_error(exc: BaseException) -> DeliveryError:
    """The :class:`DeliveryError` for a failed call."""
    return DeliveryError(error_code(exc), str(exc), is_retryable(exc), maybe_sent(exc))


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before trying a request again: exponential backoff with full jitter.

    Immutable, and the only retry policy of the package: the exporter's own export loop
    (:meth:`LogsEdge.put`) sleeps for it, the processor's scheduler sets timers by it.
    """

    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    max_attempts: int = 12
    """Of the export loop (the processor retries until its spool or shutdown takes over)."""
    max_again: int = 3
    """Attempts in a row that ask to be sent again at once (a stream just made, a sequence
    token corrected, the entity refused) before that counts as a failure."""
    credential_grace_s: float = 60.0
    """How long credential trouble counts as passing, from its first failure since the last
    call that worked: retried like an outage until then, a lasting failure after."""
    reread_after_s: float = 1.0
    """The shortest wait between two readings of the credential chain; it doubles after each
    one, up to ``reread_max_s``, until a call works again."""
    reread_max_s: float = 30.0

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based); ``rand`` in [0, 1)."""
        return rand * min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))


class SendAgain(Exception):
    """The request must be sent again: at once when the endpoint asked for another sequence
    token, refused the entity field, or the stream (and group) it needed were just made;
    after ``after_s`` when the stream or group is to be made in a later slot of the
    process's creation pace (:data:`CREATE_SLOTS`)."""

    def __init__(self, after_s: float = 0.0) -> None:
        super().__init__(after_s)
        self.after_s = after_s


CREATE_SLOTS = {"stream": Slots(CREATE_LOG_STREAM_RATE), "group": Slots(CREATE_LOG_GROUP_RATE)}
"""The process's pace of CreateLogStream and CreateLogGroup calls, shared by its exporters:
CloudWatch's quotas of these calls are per account and region."""

_PENDING_MAX = 4096
"""Streams waiting to be made that an edge remembers; past it, they are found missing again."""


@dataclass(frozen=True)
class PutResult:
    """What CloudWatch did with one request.

    ``possible_duplicates``: copies CloudWatch may hold beyond the one delivered, one per
    earlier attempt whose response was lost (it no longer deduplicates with tokens).
    """

    delivered: int
    rejected: Counter[str]
    possible_duplicates: int = 0
    entity_rejected: str | None = None
    """The ``errorType`` of a ``rejectedEntityInfo``: the entity was refused, not the events."""


def rejected_counts(info: Mapping[str, Any] | None, count: int) -> Counter[str]:
    """Events of a request that CloudWatch refused, by reason, from ``rejectedLogEventsInfo``.

    ``tooOldLogEventEndIndex`` and ``expiredLogEventEndIndex`` are exclusive ends of a
    prefix; ``tooNewLogEventStartIndex`` is the inclusive start of a suffix.
    """
    rejected: Counter[str] = Counter()
    if not info:
        return rejected

    def index(name: str, default: int) -> int:
        value = info.get(name)
        return min(max(value, 0), count) if isinstance(value, int) else default

    too_old = index("tooOldLogEventEndIndex", 0)
    expired = index("expiredLogEventEndIndex", 0)
    too_new_start = max(index("tooNewLogEventStartIndex", count), too_old, expired)
    for reason, number in (
        ("rejected_too_old", too_old),
        ("rejected_expired", max(0, expired - too_old)),
        ("rejected_too_new", count - too_new_start),
    ):
        if number:
            rejected[reason] = number
    return rejected


def make_client(
    *,
    session: boto3.session.Session | None,
    region_name: str | None,
    endpoint_url: str | None,
    timeout_s: float,
    endpoint_setting: str = "endpoint_url",
    region_setting: str = "region_name",
    verify: bool | str | None = None,
) -> Any:
    """A CloudWatch Logs client whose only retries are the package's own.

    The region is boto3's (``AWS_DEFAULT_REGION``, the profile) unless given; ``AWS_REGION``,
    which AWS runtimes set but botocore does not read, is used when boto3 finds none, and on
    EC2, where nothing sets one, the instance metadata service.
    """
    session = session or boto3.session.Session()
    if region_name is None and not session.region_name:
        region_name = os.environ.get("AWS_REGION") or region_from_instance_metadata(session)
    config = botocore.config.Config(
        retries={"total_max_attempts": 1},
        connect_timeout=min(5.0, timeout_s),
        read_timeout=min(15.0, timeout_s),
        user_agent_extra="otel-cwlogs",
    )
    try:
        return session.client(
            "logs",
            region_name=region_name,
            endpoint_url=endpoint_url,
            config=config,
            verify=verify,
        )
    except botocore.exceptions.NoRegionError:
        raise ConfigError(
            "region_name",
            region_name,
            "no AWS region is configured; pass region_name, or set "
            "OTEL_EXPORTER_CLOUDWATCH_LOGS_REGION_NAME, AWS_REGION or AWS_DEFAULT_REGION, "
            "or a region in the AWS profile (the instance metadata service gave none)",
        ) from None
    except botocore.exceptions.InvalidRegionError:
        raise ConfigError(
            region_setting, region_name, "expected an AWS region name such as eu-west-1"
        ) from None
    except ValueError as exc:
        raise ConfigError(endpoint_setting, endpoint_url, f"expected a URL ({exc})") from None


class LogsEdge:
    """PutLogEvents for the exporter.

    Keeps the last sequence token per stream (CloudWatch ignores them since 2023; compatible
    endpoints may not), and creates a missing stream, or group and stream, on
    ``ResourceNotFoundException``. :meth:`attempt` makes one try of a request (what the
    processor's scheduler retries); :meth:`put` tries until delivered or out of time, under
    the :class:`RetryPolicy` (what the exporter's own ``export`` does).

    Credentials that change are picked up. With ``rereads_credentials`` (the client is made
    by ``client_factory`` from a credential chain of the exporter's own), a refused key
    (:data:`REFUSED_KEY_CODES`) or missing credentials make a new client, the chain read
    again, and the request is retried like an outage; a credential provider that failed
    (``CredentialRetrievalError``) is retried so, whoever owns the chain. The chain is read at
    most once per ``policy.reread_after_s``, that wait doubling up to ``reread_max_s`` while
    nothing works; after ``policy.credential_grace_s`` of failures with no call working in
    between, the trouble is lasting: requests fail at once (and are reported with their
    cause), while the chain is still read again now and then, so that a key fixed later is
    used.
    """

    def __init__(
        self,
        client_factory: Callable[[float | None], Any],
        *,
        owns_client: bool,
        create_log_group: bool,
        retention_in_days: int | None,
        tags: Mapping[str, str],
        policy: RetryPolicy | None = None,
        log_group_class: str | None = None,
        kms_key_id: str | None = None,
        rereads_credentials: bool = False,
    ) -> None:
        self._factory = client_factory
        self._owns_client = owns_client
        self._rereads = rereads_credentials and owns_client
        self.policy = policy or RetryPolicy()
        self._report = RateLimitedLog()
        self._credential_lock = threading.Lock()
        self._credentials_work()
        self._attempt_timeout: float | None = None
        self._staged = threading.local()
        self._use(client_factory(None))
        self._create_log_group = create_log_group
        self._retention = retention_in_days
        self._tags = dict(tags)
        self._group_options = {
            key: value
            for key, value in (("logGroupClass", log_group_class), ("kmsKeyId", kms_key_id))
            if value is not None
        }
        self.stop = threading.Event()
        self._tokens: dict[tuple[str, str], str] = {}
        self.send_entity = True
        self._retention_known: dict[str, int] = {}
        self._missing: dict[Route, tuple[str, float | None]] = {}
        """Routes whose stream (or group) is to be made: what, and the time of its slot (None:
        none reserved yet, after a creation call that failed)."""

    @property
    def client(self) -> Any:
        return self._client

    def after_fork(self) -> None:
        """In a forked child: a new client (boto3 clients are not fork-safe), fresh state."""
        self._tokens.clear()
        self._credential_lock = threading.Lock()
        self._credentials_work()
        if self._owns_client:
            self._use(self._factory(self._attempt_timeout))

    def bound_attempts(self, timeout_s: float) -> bool:
        """Make each call end within about ``timeout_s`` (a new client with shorter
        timeouts); False when the client was given and keeps its own."""
        if not self._owns_client:
            return False
        if self._attempt_timeout is None or timeout_s < self._attempt_timeout:
            self._attempt_timeout = timeout_s
            self._use(self._factory(timeout_s))
        return True

    def forget(self, route: Route) -> None:
        """The stream is no longer written to: its sequence token need not be kept."""
        self._tokens.pop((route.group, route.stream), None)
        self._missing.pop(route, None)

    def _use(self, client: Any) -> None:
        """Send with ``client`` from now on (ready before another thread may take it)."""
        client.meta.events.register(
            "before-call.cloudwatch-logs.PutLogEvents",
            self._swap_body,
            unique_id=f"otel-cwlogs-body-{id(self)}",
        )
        self._client = client

    def _swap_body(self, params: dict[str, Any], **_: Any) -> None:
        """Put the request body this thread staged in place of botocore's serialization.

        botocore validates and serializes a request event by event, which costs more than
        everything else the package does per event; the exporter's events are already valid
        text, so it writes the JSON body itself. Signing, the connection and the HTTP
        exchange stay botocore's.
        """
        body = getattr(self._staged, "body", None)
        if body is not None:
            self._staged.body = None
            params["body"] = body

    def known_retention(self, group: str) -> int | None:
        """The retention of a group this process created, else None (unknown)."""
        return self._retention_known.get(group)

    @guarded
    def put(
        self,
        route: Route,
        events: Sequence[LogEvent],
        deadline: float,
        retried: Counter[str],
    ) -> PutResult:
        """Send one request until it is delivered; :class:`DeliveryError` when it cannot be
        (a lasting cause, or retries out of time). Each retry's cause is counted in
        ``retried``."""
        attempts = again = ambiguous = 0
        while True:
            try:
                result = self.attempt(route, events)
            except SendAgain as exc:
                if exc.after_s:  # the stream is made in a later slot: wait for it
                    if time.monotonic() + exc.after_s >= deadline or self.stop.wait(exc.after_s):
                        raise DeliveryError(
                            "CreatePaced",
                            "the log stream or group was to be made after the timeout (the "
                            "process paces CreateLogStream and CreateLogGroup to the quotas)",
                            True,
                        ) from None
                    continue
                again += 1
                if again <= self.policy.max_again:
                    continue
                raise DeliveryError(
                    "SendAgainLimit", "the endpoint kept asking for the request again", True
                ) from None
            except DeliveryError as exc:
                ambiguous += exc.maybe_sent
                attempts += 1
                wait = self.policy.delay(attempts, random.random())
                if (
                    not exc.retryable
                    or attempts >= self.policy.max_attempts
                    or time.monotonic() + wait >= deadline
                ):
                    exc.maybe_sent = ambiguous > 0
                    raise
                retried[exc.code] += 1
                if self.stop.wait(wait):
                    raise
                continue
            if ambiguous:  # each attempt that may have reached it: a possible copy
                copies = result.delivered * ambiguous
                return PutResult(result.delivered, result.rejected, copies, result.entity_rejected)
            return result

    @guarded
    def attempt(self, route: Route, events: Sequence[LogEvent]) -> PutResult:
        """One try of one request: one PutLogEvents call (and, when the stream or group is
        missing, the calls that make them). Raises :class:`SendAgain` when the request is to
        be sent again at once, :class:`DeliveryError` when this try failed."""
        try:
            result = self._attempt(route, events)
        except (SendAgain, DeliveryError):
            raise
        except Exception as exc:
            raise self._failure(exc) from None
        if self._troubled_since is not None:
            self._credentials_work()
        return result

    def _credentials_work(self) -> None:
        """No credential trouble (a call worked): the next may have the chain read at once."""
        with self._credential_lock:
            self._troubled_since: float | None = None
            self._reread_at = 0.0
            self._reread_wait = self.policy.reread_after_s

    def _failure(self, exc: Exception) -> DeliveryError:
        """The :class:`DeliveryError` of a failed call; credential trouble is passing within
        the grace, and may have the chain read again (see the class's docstring)."""
        error = delivery_error(exc)
        refused = self._rereads and key_refused(exc)
        if not refused and not isinstance(exc, botocore.exceptions.CredentialRetrievalError):
            return error
        now = time.monotonic()
        with self._credential_lock:
            if self._troubled_since is None:
                self._troubled_since = now
            error.retryable = now - self._troubled_since < self.policy.credential_grace_s
            reread = refused and now >= self._reread_at
            if reread:
                self._reread_at = now + self._reread_wait
                self._reread_wait = min(2 * self._reread_wait, self.policy.reread_max_s)
        if reread:
            self._reread_credentials(error.code)
        return error

    def _reread_credentials(self, cause: str) -> None:
        """A new client, the credential chain read again; the current one is kept when that
        fails (the next reading is tried after the wait)."""
        try:
            client = self._factory(self._attempt_timeout)
        except Exception as exc:
            self._report.log(
                "reread", logging.WARNING, "could not read the AWS credentials again: %s", exc
            )
            return
        self._use(client)
        logger.info("read the AWS credentials again after %s", cause)

    def _attempt(self, route: Route, events: Sequence[LogEvent]) -> PutResult:
        missing = self._missing.get(route)
        if missing is not None:
            self._make(route, *missing)
        params: dict[str, Any] = {"logGroupName": route.group, "logStreamName": route.stream}
        token = self._tokens.get((route.group, route.stream))
        if token is not None:
            params["sequenceToken"] = token
        entity = route.entity if self.send_entity else None
        try:
            response = self._send(params, events_json(events), entity)
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if entity is not None and "entity" in str(exc).lower():
                self.send_entity = False  # an endpoint from before the field existed
                logger.info("the endpoint refuses the entity field; sending without it")
                raise SendAgain from None
            expected = exc.response.get("expectedSequenceToken")
            if code == "DataAlreadyAcceptedException":
                self._set_token(route, expected)
                return PutResult(len(events), Counter())
            if code == "InvalidSequenceTokenException":
                self._set_token(route, expected)
                raise SendAgain from None
            if code != "ResourceNotFoundException":
                raise
            self._tokens.pop((route.group, route.stream), None)
            self._make(route, "stream", None)
        self._set_token(route, response.get("nextSequenceToken"))
        rejected = rejected_counts(response.get("rejectedLogEventsInfo"), len(events))
        delivered = len(events) - sum(rejected.values())
        entity_info = response.get("rejectedEntityInfo") or {}
        entity_rejected = str(entity_info.get("errorType") or "") or None
        return PutResult(delivered, rejected, 0, entity_rejected)

    def _send(self, params: dict[str, Any], log_events: bytes, entity: str | None) -> Any:
        head = json.dumps(params, ensure_ascii=False, separators=(",", ":"))[:-1]
        # the entity goes in the body only: older botocore models lack the field
        tail = b"}" if entity is None else b',"entity":' + entity.encode() + b"}"
        self._staged.body = b"".join((head.encode(), b',"logEvents":[', log_events, b"]", tail))
        try:
            return self.client.put_log_events(**params, logEvents=_PLACEHOLDER)
        finally:
            self._staged.body = None

    def _set_token(self, route: Route, token: object) -> None:
        if isinstance(token, str) and token:
            self._tokens[(route.group, route.stream)] = token
        else:
            self._tokens.pop((route.group, route.stream), None)

    def _call(self, method: str, **params: Any) -> None:
        """One creation call; "already exists" counts as done."""
        try:
            getattr(self.client, method)(**params)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceAlreadyExistsException":
                raise

    def _make(self, route: Route, what: str, slot: float | None) -> NoReturn:
        """Make the missing stream, or its group and then the stream, each call in its slot
        of the creation pace (reserved now when ``slot`` is None) and through its gate
        (:class:`~.pacing.Slots`). Raises :class:`SendAgain`: at once when the stream is
        made, after the wait when its slot or the gate is later (nothing is called then, nor
        is a sender held; the gate holds one for at most one interval, 22 ms for a stream,
        110 ms for a group); a failed call is raised, and the step is made again, in a new
        slot, at the request's next attempt."""
        while True:
            slots = CREATE_SLOTS[what]
            now = time.monotonic()
            if slot is None:
                slot = slots.reserve(now)
            if slot > now:
                self._remember_missing(route, what, slot)
                raise SendAgain(slot - now)
            taken, wait = slots.start(now)
            if not taken:
                self._remember_missing(route, what, slot)
                raise SendAgain(wait)
            if wait:
                self.stop.wait(wait)
            self._remember_missing(route, what, None)
            try:
                if what == "stream":
                    made = self._create_stream(route)
                else:
                    self._create_group(route)
                    made = False
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in THROTTLING_CODES:
                    slots.throttled(time.monotonic())
                raise
            slots.accepted()
            if made:
                self._missing.pop(route, None)
                raise SendAgain
            what, slot = ("group" if what == "stream" else "stream"), None

    def _remember_missing(self, route: Route, what: str, slot: float | None) -> None:
        if route not in self._missing and len(self._missing) >= _PENDING_MAX:
            self._missing.clear()
        self._missing[route] = (what, slot)

    def _create_stream(self, route: Route) -> bool:
        """Make the stream; False when its group is missing (and may be made)."""
        try:
            self._call("create_log_stream", logGroupName=route.group, logStreamName=route.stream)
            return True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        if not self._create_log_group:
            self._missing.pop(route, None)
            raise DeliveryError(
                "ResourceNotFoundException",
                f"log group {route.group!r} does not exist and create_log_group is off",
            )
        return False

    def _create_group(self, route: Route) -> None:
        """Make the group, with the configured class, KMS key, tags and retention."""
        group_params: dict[str, Any] = {"logGroupName": route.group, **self._group_options}
        if self._tags:
            group_params["tags"] = self._tags
        self._call("create_log_group", **group_params)
        logger.info("created log group %s", route.group)
        if self._retention is not None:
            self._call(
                "put_retention_policy", logGroupName=route.group, retentionInDays=self._retention
            )
            if len(self._retention_known) >= _PENDING_MAX:
                self._retention_known.clear()
            self._retention_known[route.group] = self._retention

    def close(self) -> None:
        self.stop.set()
        if self._owns_client:
            close = getattr(self._client, "close", None)
            if callable(close):
                close()
