"""The notification HTTP API: acknowledge alerts and manage silences.

Bound to ``api.host:api.port`` (127.0.0.1:9465 by default), apart from the unauthenticated
metrics endpoint. Every ``/api/`` request needs ``Authorization: Bearer <token>``, the token
being the content of ``api.token_file``; without a token file the API does not start.

    POST /api/v1/alerts/{alert_id}/ack        {"by": "nurse J. Smith"}        → 200 | 404
    GET  /api/v1/silences                                                     → 200 [silence]
    POST /api/v1/silences   {"matchers": ["patient_id=P-0042"], "duration": "2h",
                             "reason": "in theatre", "by": "..."}              → 201 silence
    POST /api/v1/silences/{id}/expire                                         → 200 | 404
    GET|POST /ack/{alert_id}?sig=…     the acknowledge link put in notifications

The link carries an HMAC of the alert id under the token instead of the token, so it
acknowledges that one alert only; GET shows a confirmation button (link previewers and mail
scanners open links) and the POST it makes records the acknowledgement.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from vitalwatch.durations import parse_duration_ms
from vitalwatch.errors import ConfigError
from vitalwatch.notify.operations import Operations, UnknownAlert
from vitalwatch.settings import ApiSettings

log = structlog.get_logger(__name__)

_ACK = re.compile(r"^/api/v1/alerts/([0-9a-f-]{36})/ack$")
_EXPIRE = re.compile(r"^/api/v1/silences/([0-9a-f]+)/expire$")
_LINK = re.compile(r"^/ack/([0-9a-f-]{36})$")


def read_token(settings: ApiSettings) -> str | None:
    if settings.token_file is None:
        return None
    try:
        token = settings.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"api.token_file {settings.token_file} cannot be read ({exc.strerror}); "
            "point VITALWATCH_API__TOKEN_FILE at a readable file"
        ) from None
    if len(token) < 16:
        raise ConfigError(f"api.token_file {settings.token_file}: use a token of 16+ characters")
    return token


def link_signature(token: str, alert_id: str) -> str:
    return hmac.new(token.encode(), alert_id.encode(), hashlib.sha256).hexdigest()[:32]


def ack_link_maker(settings: ApiSettings, token: str | None) -> Callable[[str], str | None]:
    """The acknowledge link for an alert id, when ``api.public_url`` and a token are set."""
    if not settings.public_url or token is None:
        return lambda alert_id: None
    base = settings.public_url.rstrip("/")
    return lambda alert_id: f"{base}/ack/{alert_id}?sig={link_signature(token, alert_id)}"


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:  # paths hold alert ids: not logged
        pass

    def _reply(self, status: int, body: Any, endpoint: str, html: bool = False) -> None:
        outcome = (
            "ok" if status < 400 else {401: "unauthorized", 404: "not_found"}.get(status, "bad")
        )
        self.server.ops.metrics.api_requests.labels(endpoint, outcome).inc()
        data = (body if html else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if html else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.server.token}".encode())

    def _json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if (match := _LINK.match(url.path)) is not None:
            self._link(match.group(1), parse_qs(url.query), confirm=False)
        elif url.path == "/api/v1/silences":
            if not self._authorized():
                self._reply(401, {"error": "bearer token required"}, "silences")
                return
            silences = self.server.ops.silences.list(time.time())
            self._reply(200, [s.as_dict() for s in silences], "silences")
        else:
            self._reply(404, {"error": "no such endpoint"}, "other")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if (match := _LINK.match(url.path)) is not None:
            self._link(match.group(1), parse_qs(url.query), confirm=True)
            return
        endpoint = "ack" if _ACK.match(url.path) else "silences"
        if not self._authorized():
            self._reply(401, {"error": "bearer token required"}, endpoint)
            return
        try:
            body = self._json()
            self._post(url.path, body)
        except (ValueError, TypeError) as exc:
            # the message may quote a matcher (a patient id): logged by type only
            log.warning("api.bad_request", endpoint=endpoint, error=type(exc).__name__)
            self._reply(400, {"error": str(exc)}, endpoint)

    def _post(self, path: str, body: dict[str, Any]) -> None:
        ops, now = self.server.ops, time.time()
        by = str(body.get("by", "api"))
        if (match := _ACK.match(path)) is not None:
            try:
                ack, new = ops.acknowledge(match.group(1), by, "api", now)
            except UnknownAlert:
                self._reply(404, {"error": "unknown alert id"}, "ack")
                return
            self._reply(200, {"acknowledged": True, "new": new, "by": ack.by, "at": ack.at}, "ack")
        elif path == "/api/v1/silences":
            if "ends_at" in body:
                ends_at = float(body["ends_at"])
            else:
                ends_at = now + parse_duration_ms(body.get("duration", "")) / 1000
            matchers = body.get("matchers")
            if not isinstance(matchers, list):
                raise ValueError("'matchers' must be a list such as ['patient_id=P-0042']")
            silence = ops.add_silence(
                [str(m) for m in matchers], ends_at, str(body.get("reason", "")), by, now
            )
            self._reply(201, silence.as_dict(), "silences")
        elif (match := _EXPIRE.match(path)) is not None:
            if ops.expire_silence(match.group(1), by, now):
                self._reply(200, {"expired": match.group(1)}, "silences")
            else:
                self._reply(404, {"error": "no such active silence"}, "silences")
        else:
            self._reply(404, {"error": "no such endpoint"}, "other")

    def _link(self, alert_id: str, query: dict[str, list[str]], confirm: bool) -> None:
        signature = (query.get("sig") or [""])[0]
        expected = link_signature(self.server.token, alert_id)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            self._reply(401, "<p>This acknowledge link is not valid.</p>", "link", html=True)
            return
        if not confirm:
            page = (
                f'<form method="post" action="/ack/{alert_id}?sig={signature}">'
                "<p>Acknowledge this vitalwatch alert? Escalation stops.</p>"
                '<button type="submit">Acknowledge</button></form>'
            )
            self._reply(200, page, "link", html=True)
            return
        try:
            ack, _ = self.server.ops.acknowledge(alert_id, "link", "link", time.time())
        except UnknownAlert:
            self._reply(404, "<p>Unknown alert.</p>", "link", html=True)
            return
        when = time.strftime("%H:%M:%S", time.localtime(ack.at))
        self._reply(200, f"<p>Acknowledged at {when} (via {ack.via}).</p>", "link", html=True)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, token: str, ops: Operations) -> None:
        self.token = token
        self.ops = ops
        super().__init__((host, port), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name="notify-api", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("api.listening", host=self.server_address[0], port=self.server_address[1])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def start_api(settings: ApiSettings, ops: Operations) -> ApiServer | None:
    token = read_token(settings)
    if not settings.enabled or token is None:
        log.info("api.disabled", hint="set api.token_file to a file with a bearer token")
        return None
    server = ApiServer(settings.host, settings.port, token, ops)
    server.start()
    return server


__all__ = ["ApiServer", "ack_link_maker", "link_signature", "read_token", "start_api"]
