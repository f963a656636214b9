"""The API's endpoints, as a Starlette application over ``Operations``.

Order of checks in every endpoint: the credential (401 before the body is read), then the body
(413 over ``MAX_BODY``, 400 when ``bodies`` refuses it), then the operation; nothing is stored
unless every check passed. The few SQLite writes run on the server's own thread, one at a time.
Paths carry alert ids and bodies may quote patient ids: neither is logged.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from vitalwatch.notify.api.bodies import (
    MAX_BODY,
    BadRequest,
    SilenceRequest,
    TooLarge,
    no_fields,
    parse_object,
    read_body,
)
from vitalwatch.notify.api.credentials import Credential, Credentials
from vitalwatch.notify.api.links import link_signature
from vitalwatch.notify.operations import Operations, UnknownAlert

log = structlog.get_logger(__name__)

_ALERT_ID = re.compile(r"^[0-9a-f-]{36}$")
_SILENCE_ID = re.compile(r"^[0-9a-f]{1,32}$")
_OUTCOMES = {401: "unauthorized", 404: "not_found", 413: "too_large"}


class ApiApp:
    """The endpoints, bound to the operations, the credentials and ``api.max_silence``."""

    def __init__(
        self,
        ops: Operations,
        credentials: Credentials,
        link_signer: Credential | None,
        max_silence_s: float,
    ) -> None:
        self._ops = ops
        self._credentials = credentials
        self._signer = link_signer
        self._max_silence_s = max_silence_s

    def starlette(self) -> Starlette:
        routes = [
            Route("/api/v1/silences", self._silences, methods=["GET", "POST"]),
            Route("/api/v1/silences/{silence_id}/expire", self._expire, methods=["POST"]),
            Route("/api/v1/alerts/{alert_id}/ack", self._ack, methods=["POST"]),
            Route("/ack/{alert_id}", self._link, methods=["GET", "POST"]),
        ]
        handlers: Any = {404: self._no_route, 405: self._no_route}
        return Starlette(routes=routes, exception_handlers=handlers)

    # -- replies --------------------------------------------------------------------------

    def _reply(self, status: int, body: Any, endpoint: str, **headers: str) -> Response:
        outcome = "ok" if status < 400 else _OUTCOMES.get(status, "bad")
        self._ops.metrics.api_requests.labels(endpoint, outcome).inc()
        if isinstance(body, str):
            return HTMLResponse(body, status, headers=headers)
        return JSONResponse(body, status, headers=headers)

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        error = "method not allowed" if status == 405 else "no such endpoint"
        return self._reply(status, {"error": error}, "other", **headers)

    def _caller(self, request: Request) -> str | None:
        return self._credentials.identify(request.headers.get("authorization", ""))

    def _unauthorized(self, endpoint: str) -> Response:
        error = {"error": "a bearer token from api.tokens_file is required"}
        return self._reply(401, error, endpoint, **{"WWW-Authenticate": "Bearer"})

    async def _body(self, request: Request, endpoint: str) -> dict[str, Any] | Response:
        """The JSON object sent, or the reply that refuses it."""
        try:
            return parse_object(await read_body(request))
        except TooLarge:
            return self._reply(413, {"error": f"the body is over {MAX_BODY} bytes"}, endpoint)
        except ClientDisconnect:  # nobody to answer; nothing is stored
            return Response(status_code=400)
        except BadRequest as exc:
            return self._bad(exc, endpoint)

    def _bad(self, exc: ValueError, endpoint: str) -> Response:
        # the message may quote a matcher (a patient id): logged by type only
        log.warning("api.bad_request", endpoint=endpoint, error=type(exc).__name__)
        return self._reply(400, {"error": str(exc)}, endpoint)

    # -- endpoints ------------------------------------------------------------------------

    async def _silences(self, request: Request) -> Response:
        caller = self._caller(request)
        if caller is None:
            return self._unauthorized("silences")
        now = time.time()
        if request.method != "POST":
            silences = [s.as_dict() for s in self._ops.silences.list(now)]
            return self._reply(200, silences, "silences")
        body = await self._body(request, "silences")
        if isinstance(body, Response):
            return body
        try:
            wanted = SilenceRequest.parse(body, now)
            silence = self._ops.add_silence(
                wanted.matchers, wanted.ends_at, wanted.reason, caller, now, self._max_silence_s
            )
        except ValueError as exc:  # BadRequest, or the store's limits
            return self._bad(exc, "silences")
        return self._reply(201, silence.as_dict(), "silences")

    async def _bodiless(self, request: Request, endpoint: str) -> str | Response:
        """The caller of a POST that takes no fields (ack, expire), or the refusal."""
        caller = self._caller(request)
        if caller is None:
            return self._unauthorized(endpoint)
        body = await self._body(request, endpoint)
        if isinstance(body, Response):
            return body
        try:
            no_fields(body)
        except BadRequest as exc:
            return self._bad(exc, endpoint)
        return caller

    async def _expire(self, request: Request) -> Response:
        caller = await self._bodiless(request, "silences")
        if isinstance(caller, Response):
            return caller
        silence_id = request.path_params["silence_id"]
        if _SILENCE_ID.match(silence_id) and self._ops.expire_silence(
            silence_id, caller, time.time()
        ):
            return self._reply(200, {"expired": silence_id, "by": caller}, "silences")
        return self._reply(404, {"error": "no such active silence"}, "silences")

    async def _ack(self, request: Request) -> Response:
        caller = await self._bodiless(request, "ack")
        if isinstance(caller, Response):
            return caller
        alert_id = request.path_params["alert_id"]
        if not _ALERT_ID.match(alert_id):
            return self._reply(404, {"error": "unknown alert id"}, "ack")
        try:
            ack, new = self._ops.acknowledge(alert_id, caller, "api", time.time())
        except UnknownAlert:
            return self._reply(404, {"error": "unknown alert id"}, "ack")
        reply = {"acknowledged": True, "new": new, "by": ack.by, "at": ack.at}
        return self._reply(200, reply, "ack")

    async def _link(self, request: Request) -> Response:
        """GET shows a button (link previewers and mail scanners open links); its POST
        acknowledges, under the name of the credential that signs links."""
        alert_id = request.path_params["alert_id"]
        signature = request.query_params.get("sig", "")
        expected = link_signature(self._signer.token, alert_id) if self._signer else ""
        if not (
            self._signer is not None and _ALERT_ID.match(alert_id) and _same(signature, expected)
        ):
            return self._reply(401, "<p>This acknowledge link is not valid.</p>", "link")
        if request.method != "POST":
            page = (
                f'<form method="post" action="/ack/{alert_id}?sig={expected}">'
                "<p>Acknowledge this vitalwatch alert? Escalation stops.</p>"
                '<button type="submit">Acknowledge</button></form>'
            )
            return self._reply(200, page, "link")
        try:
            ack, _ = self._ops.acknowledge(alert_id, self._signer.name, "link", time.time())
        except UnknownAlert:
            return self._reply(404, "<p>Unknown alert.</p>", "link")
        when = time.strftime("%H:%M:%S", time.localtime(ack.at))
        return self._reply(200, f"<p>Acknowledged at {when} (via {ack.via}).</p>", "link")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())
