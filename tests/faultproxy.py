"""A small HTTP proxy in front of the emulator that injects faults into chosen operations.

Tests point the exporter's endpoint at the proxy, queue faults for an operation (by its
``X-Amz-Target`` name, e.g. ``PutLogEvents``), and everything else is forwarded untouched.
Faults are answered over real HTTP, so botocore parses them exactly as it would AWS's.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    kind: str  # "error", "reset" or "respond"
    times: int
    status: int = 400
    body: dict[str, Any] = field(default_factory=dict)
    when: str = ""  # only requests whose body contains this text


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.hits: Counter[str] = Counter()
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

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

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add(self, operation: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(operation, []).append(fault)

    def _next_fault(self, operation: str, body: bytes) -> Fault | None:
        with self._lock:
            self.hits[operation] += 1
            for fault in self._faults.get(operation, []):
                if fault.when.encode() in body:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults[operation].remove(fault)
                    return fault
            return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        target = handler.headers.get("X-Amz-Target", "")
        operation = target.rsplit(".", 1)[-1]
        fault = self._next_fault(operation, body)
        if fault is not None and fault.kind == "reset":
            sock = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            sock.close()
            return
        if fault is not None:
            self._reply(handler, fault.status, json.dumps(fault.body).encode())
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            self._reply(handler, response.status, response.read(), response.getheaders())
        finally:
            conn.close()

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
