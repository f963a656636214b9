"""The one HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` (JSON).

A failing check answers 503 with a body naming it, e.g.
``{"status": "not ready", "failed": ["broker"], "checks": {"broker": {"ok": false, ...}}}``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from vitalwatch.service.health import Check, HealthChecks

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not events
        pass


def _json(checks: list[Check], ok_word: str, bad_word: str) -> tuple[str, bytes]:
    failed = [c.name for c in checks if not c.ok]
    body = {
        "status": bad_word if failed else ok_word,
        "failed": failed,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return ("503 Service Unavailable" if failed else "200 OK"), json.dumps(body).encode()


class HttpEndpoint:
    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, health: HealthChecks
    ) -> None:
        self._metrics_app = make_wsgi_app(registry)
        self._health = health
        self._server = make_server(
            host, port, self._app, ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            status, body = _json(self._health.liveness(), "alive", "not alive")
        elif path == "/readyz":
            status, body = _json(self._health.readiness(), "ready", "not ready")
        else:
            return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
