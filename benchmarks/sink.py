"""A minimal, fast CloudWatch Logs (and OTLP/HTTP logs) endpoint for the benchmark.

It accepts PutLogEvents and the calls around it (creating groups and streams, ...), and
OTLP/HTTP log exports on ``/v1/logs``, counts the records it receives (and the size of
each PutLogEvents request, as CloudWatch counts it) and notes when the last one arrived.
``GET /stats`` returns the counts; ``POST /reset`` clears them. It stores nothing, so it
costs the benchmark as little as an endpoint can.

    python benchmarks/sink.py        # prints the port it listens on, then serves
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.records = 0
        self.requests = 0
        self.request_bytes = 0
        self.last_at = 0.0

    def add(self, records: int, size: int = 0) -> None:
        now = time.time()
        with self.lock:
            self.records += records
            self.requests += 1
            self.request_bytes += size
            self.last_at = now

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "records": self.records,
                "requests": self.requests,
                "request_bytes": self.request_bytes,
                "last_at": self.last_at,
            }


COUNTS = Counts()


def otlp_records(payload: bytes) -> int:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest.FromString(payload)
    return sum(
        len(scope.log_records)
        for resource in request.resource_logs
        for scope in resource.scope_logs
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a reply is written in two pieces: no delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, payload: bytes, content_type: str = "application/x-amz-json-1.1") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", "sink")
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._reply(json.dumps(COUNTS.snapshot()).encode(), "application/json")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/reset":
            with COUNTS.lock:
                COUNTS.reset()
            self._reply(b"{}")
        elif self.path.startswith("/v1/logs"):
            COUNTS.add(otlp_records(body))
            self._reply(b"", "application/x-protobuf")
        elif self.headers.get("X-Amz-Target", "").endswith(".PutLogEvents"):
            events = json.loads(body)["logEvents"]
            # the request's size as PutLogEvents counts it: UTF-8 message bytes + 26 per event
            COUNTS.add(len(events), sum(len(e["message"].encode()) + 26 for e in events))
            self._reply(b"{}")
        else:
            self._reply(b"{}")


def main() -> None:
    server = ThreadingHTTPServer(
        ("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler
    )
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
