"""Liveness, readiness and Prometheus metrics over HTTP for the platform's long-running processes.

``/healthz`` answers while the process runs; ``/readyz`` is 200 only when its dependencies (broker,
database) are usable; ``/metrics`` is the Prometheus text format from ``prometheus_client``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

Readiness = Callable[[], tuple[bool, str]]


def _handler(ready: Readiness, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                ok, why = ready()
                self._reply(200 if ok else 503, (why + "\n").encode(), "text/plain")
            elif self.path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes are not worth a log line."""

    return Handler


def serve(
    port: int, ready: Readiness, *, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY
) -> ThreadingHTTPServer:
    """Serve in a daemon thread; returns the server (its ``server_address`` has the bound port)."""
    server = ThreadingHTTPServer((host, port), _handler(ready, registry))
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server
