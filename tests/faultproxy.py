"""A small HTTP proxy in front of the emulator that injects faults into chosen operations.

Tests point the exporter's endpoint at the proxy and either queue faults for an operation (by
its ``X-Amz-Target`` name, e.g. ``PutLogEvents``), or set a :class:`Chaos` of probabilities
for it; everything else is forwarded untouched. Faults are answered over real HTTP, so botocore
parses them exactly as it would AWS's. The proxy can also go down (refusing connections) and
come back on the same port, can take calls and never answer them, can enforce sequence
tokens like the pre-2023 service, can throttle an operation past a rate as an account quota
does, and can refuse an access key as AWS refuses one it does not know (the emulator checks
no signature). Given a
:class:`~tests.limits.Recorder`, it checks every PutLogEvents request that passes through
against the real limits: the way to check the requests of an exporter in another process.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .limits import Recorder


@dataclass
class Fault:
    kind: str  # "error", "reset", "respond" or "annotate"
    times: int
    status: int = 400
    body: dict[str, Any] = field(default_factory=dict)
    when: str = ""  # only requests whose body contains this text


@dataclass
class Chaos:
    """Probabilities, per call of one operation, of each fault (at most one per call)."""

    throttle: float = 0.0  # ThrottlingException, HTTP 400
    server_error: float = 0.0  # ServiceUnavailableException 503 or InternalFailure 500
    reset: float = 0.0  # connection dropped before the request reaches the service
    reset_after: float = 0.0  # forwarded, then the connection dropped: the response is lost
    slow: float = 0.0  # forwarded after ``slow_s`` (past the client's read timeout)
    slow_s: float = 0.0


class FaultProxy:
    def __init__(self, upstream: str, seed: int = 7, recorder: Recorder | None = None) -> None:
        parts = urlsplit(upstream)
        self.recorder = recorder
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.hits: Counter[str] = Counter()
        self.signed_with: Counter[tuple[str, str]] = Counter()
        """(operation, access key id) of each request that came through."""
        self.injected: Counter[str] = Counter()
        self.enforce_tokens = False
        self.per_stream_rate: int | None = None
        """Throttle a stream's PutLogEvents past this many in any ``rate_window_s`` window."""
        self.rate_window_s = 1.0
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._operation_rates: dict[str, int] = {}
        self.arrivals: dict[str, list[float]] = {}
        """When each call of an operation with a rate (see :meth:`throttle_above`) arrived."""
        self.forwarded_at: dict[str, list[float]] = {}
        """When each call of such an operation was let through to the emulator."""
        self._tokens: dict[tuple[str, str], int] = {}
        self._accepted: dict[tuple[str, str, str], str] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._chaos: dict[str, Chaos] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._down = False
        self._hanging: set[str] = set()
        self._refused_keys: dict[str, dict[str, str]] = {}
        self._released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

        self._handler = Handler
        self._server = self._serve(0)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    # -- what the tests ask for ---------------------------------------------------------------

    def error(
        self,
        operation: str,
        code: str,
        *,
        times: int = 1,
        status: int = 400,
        when: str = "",
        **fields: Any,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (containing ``when``) with an error."""
        body = {"__type": code, "message": fields.pop("message", code), **fields}
        self._add(operation, Fault("error", times, status, body, when))

    def reset(self, operation: str, *, times: int = 1) -> None:
        """Drop the connection of the next ``times`` calls before any response."""
        self._add(operation, Fault("reset", times))

    def respond(self, operation: str, body: dict[str, Any], *, times: int = 1) -> None:
        """Answer the next ``times`` calls with HTTP 200 and this body, not forwarding them."""
        self._add(operation, Fault("respond", times, 200, body))

    def annotate(self, operation: str, fields: dict[str, Any], *, times: int = 1) -> None:
        """Forward the next ``times`` calls, then add ``fields`` to the service's answer."""
        self._add(operation, Fault("annotate", times, 200, fields))

    def refuse_key(
        self,
        access_key_id: str,
        code: str = "UnrecognizedClientException",
        message: str = "The security token included in the request is invalid.",
    ) -> None:
        """Answer every call signed with ``access_key_id`` as AWS answers a key it refuses."""
        with self._lock:
            self._refused_keys[access_key_id] = {"__type": code, "message": message}

    def throttle_above(self, operation: str, per_second: int) -> None:
        """Answer ``ThrottlingException`` to a call of ``operation`` when more than
        ``per_second`` calls of it arrived in the last second (this one included), as
        CloudWatch's account quotas do."""
        with self._lock:
            self._operation_rates[operation] = per_second
            self.arrivals.setdefault(operation, [])
            self.forwarded_at.setdefault(operation, [])

    def hang(self, operation: str) -> None:
        """Accept the calls of ``operation`` and never answer them (until :meth:`close`)."""
        self._hanging.add(operation)

    def chaos(self, operation: str, chaos: Chaos) -> None:
        self._chaos[operation] = chaos

    def down(self) -> None:
        """Refuse connections (and drop the open ones) until :meth:`up`."""
        self._down = True
        self._server.shutdown()
        self._server.server_close()

    def up(self) -> None:
        self._server = self._serve(self.port)
        self._down = False

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._chaos.clear()
            self._refused_keys.clear()

    def close(self) -> None:
        self._released.set()
        if not self._down:
            self._server.shutdown()
            self._server.server_close()

    # -- serving ------------------------------------------------------------------------------

    def _add(self, operation: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(operation, []).append(fault)

    def _next_fault(self, operation: str, body: bytes) -> Fault | str | None:
        with self._lock:
            self.hits[operation] += 1
            for fault in self._faults.get(operation, []):
                if fault.when.encode() in body:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults[operation].remove(fault)
                    self.injected[fault.kind] += 1
                    return fault
            chaos = self._chaos.get(operation)
            if chaos is None:
                return None
            roll = self._random.random()
            for name in ("throttle", "server_error", "reset", "reset_after", "slow"):
                chance = getattr(chaos, name)
                if roll < chance:
                    self.injected[name] += 1
                    return name
                roll -= chance
            return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        if self._down:
            self._drop(handler)
            return
        operation = handler.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if operation in self._hanging:
            self.hits[operation] += 1
            self._released.wait()
            self._drop(handler)
            return
        credential = handler.headers.get("Authorization", "").partition("Credential=")[2]
        key = credential.split("/", 1)[0]
        self.signed_with[(operation, key)] += 1
        if self.recorder is not None and operation == "PutLogEvents":
            self.recorder.record(json.loads(body))
        with self._lock:
            refusal = self._refused_keys.get(key)
            if refusal is not None:
                self.injected["refused_key"] += 1
        if refusal is not None:
            self._reply(handler, 400, json.dumps(refusal).encode())
            return
        fault = self._next_fault(operation, body)
        if fault is None and operation == "PutLogEvents" and self._over_rate(body):
            fault = "throttle"
        if fault is None and self._over_operation_rate(operation):
            fault = "throttle"
        if fault == "throttle":
            fault = Fault(
                "error", 1, 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            )
        elif fault == "server_error":
            code = self._random.choice(
                [("ServiceUnavailableException", 503), ("InternalFailure", 500)]
            )
            fault = Fault("error", 1, code[1], {"__type": code[0], "message": code[0]})
        if fault == "reset" or (isinstance(fault, Fault) and fault.kind == "reset"):
            self._drop(handler)
            return
        if isinstance(fault, Fault) and fault.kind != "annotate":
            self._reply(handler, fault.status, json.dumps(fault.body).encode())
            return
        if fault == "slow":
            time.sleep(self._chaos[operation].slow_s)  # the emulated service is slow
        if self.enforce_tokens and operation == "PutLogEvents":
            status, payload, headers = self._with_tokens(handler, body)
        else:
            status, payload, headers = self._forward(handler, body)
        if fault == "reset_after":
            self._drop(handler)
            return
        if isinstance(fault, Fault) and status == 200:
            payload = json.dumps({**json.loads(payload or b"{}"), **fault.body}).encode()
        self._reply(handler, status, payload, headers)

    def _over_rate(self, body: bytes) -> bool:
        """Whether this request is one too many for its stream in the last second."""
        if self.per_stream_rate is None:
            return False
        request = json.loads(body)
        key = (request["logGroupName"], request["logStreamName"])
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._windows.get(key, []) if now - t < self.rate_window_s]
            if len(recent) >= self.per_stream_rate:
                self.injected["over_rate"] += 1
                self._windows[key] = recent
                return True
            self._windows[key] = [*recent, now]
        return False

    def _over_operation_rate(self, operation: str) -> bool:
        """Whether this call is more than its operation's rate in the last second."""
        now = time.monotonic()
        with self._lock:
            limit = self._operation_rates.get(operation)
            if limit is None:
                return False
            arrivals = self.arrivals[operation]
            arrivals.append(now)
            recent = sum(1 for t in arrivals[-(limit + 1) :] if now - t < 1.0)
            if recent > limit:
                self.injected["over_operation_rate"] += 1
                return True
            self.forwarded_at[operation].append(now)
        return False

    def _forward(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read(), response.getheaders()
        finally:
            conn.close()

    def _with_tokens(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """PutLogEvents as CloudWatch did before 2023: each batch must carry the last token."""
        request = json.loads(body)
        key = (request["logGroupName"], request["logStreamName"])
        digest = hashlib.sha256(json.dumps(request["logEvents"]).encode()).hexdigest()
        with self._lock:
            expected = self._tokens.get(key)
            sent = request.get("sequenceToken")
            replay = (key[0], key[1], sent or "")
            if self._accepted.get(replay) == digest:
                self.injected["data_already_accepted"] += 1
                error = {
                    "__type": "DataAlreadyAcceptedException",
                    "message": "The given batch of log events has already been accepted.",
                    "expectedSequenceToken": str(expected),
                }
                return 400, json.dumps(error).encode(), []
            if expected is not None and sent != str(expected):
                self.injected["invalid_sequence_token"] += 1
                error = {
                    "__type": "InvalidSequenceTokenException",
                    "message": "The given sequenceToken is invalid.",
                    "expectedSequenceToken": str(expected),
                }
                return 400, json.dumps(error).encode(), []
        status, payload, headers = self._forward(handler, body)
        if status != 200:
            return status, payload, headers
        with self._lock:
            token = (expected or 0) + 1
            self._tokens[key] = token
            self._accepted[(key[0], key[1], sent or "")] = digest
            response = json.loads(payload or b"{}")
            response["nextSequenceToken"] = str(token)
        return 200, json.dumps(response).encode(), []

    @staticmethod
    def _drop(handler: BaseHTTPRequestHandler) -> None:
        sock = handler.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        sock.close()

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: bytes,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        handler.send_response(status)
        skip = {"content-length", "connection", "transfer-encoding", "server", "date"}
        sent_type = False
        for key, value in headers or []:
            if key.lower() not in skip:
                handler.send_header(key, value)
                sent_type = sent_type or key.lower() == "content-type"
        if not sent_type:
            handler.send_header("Content-Type", "application/x-amz-json-1.1")
        handler.send_header("x-amzn-RequestId", "fault-proxy")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
