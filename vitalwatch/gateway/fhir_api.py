"""The FHIR endpoint: vital-sign Observations over HTTP, answered once Kafka has them.

    POST /fhir/Observation   one Observation                        → 201 | 400 | 422 | 503
    POST /fhir               a Bundle of Observations (any type)    → 201 | 400 | 422 | 503

A small Starlette application served by the notification API's server (``ApiServer``: its
TLS, connection limit and request timeout) and guarded by the API's credentials
(``api.tokens_file``): the same people and systems, the same limits, one way to run an HTTP
endpoint. It runs as its own command, ``vitalwatch gateway fhir``, beside ``gateway hl7``, so a
gateway's producer lives in a gateway process and the daemon is not changed.

Per request, in order: the credential (401, nothing read), the content type
(``application/fhir+json`` or ``application/json``, else 415), the body (over ``bodies.MAX_BODY``:
413), then the mapping (``fhir``). A body refused by the mapping goes to the dead-letter topic
with its original bytes and the reason, then is answered 400 (422: no vital sign in it); if the
dead letter is not confirmed, 503 (send it again). Readings are answered 201 only once the
brokers confirmed every one; else 503 (some may have been written: a resend may duplicate a
reading, never lose one). Every answer but 201's is an OperationOutcome saying why and where;
201's is an OperationOutcome of severity information counting what was written and skipped.
Patient ids are neither logged nor labelled; the place in the body (a FHIRPath) is.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vitalwatch.gateway import fhir
from vitalwatch.gateway.oru import Mapped
from vitalwatch.gateway.publish import DeliveryFailed, KafkaPublisher
from vitalwatch.gateway.records import dead_letter_record, reading_record
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api.bodies import MAX_BODY, TooLarge, read_body
from vitalwatch.notify.api.credentials import Credentials
from vitalwatch.settings import Settings

log = structlog.get_logger(__name__)

PROTOCOL = "fhir"
MEDIA_TYPE = "application/fhir+json"
_TAKEN_TYPES = frozenset({MEDIA_TYPE, "application/json"})
# FHIR's issue-type codes (http://hl7.org/fhir/issue-type) for each kind of refusal.
_ISSUE_CODES = {
    "not_json": "structure",
    "not_fhir": "structure",
    "missing_field": "required",
    "wrong_type": "value",
    "unknown_unit": "code-invalid",
    "unknown_answer": "code-invalid",
    "out_of_range": "value",
    "bad_patient_id": "value",
    "future": "business-rule",
    "no_vital_sign": "not-supported",
}


def outcome(severity: str, code: str, diagnostics: str, where: str = "") -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if where:
        issue["expression"] = [where]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


class FhirApp:
    """The endpoints, bound to the settings, a publisher, the metrics and the credentials."""

    def __init__(
        self,
        settings: Settings,
        publisher: KafkaPublisher,
        metrics: Metrics,
        credentials: Credentials,
    ) -> None:
        self._settings, self._publisher, self._metrics = settings, publisher, metrics
        self._credentials = credentials

    def starlette(self) -> Starlette:
        routes = [
            Route("/fhir/Observation", self._observation, methods=["POST"]),
            Route("/fhir", self._bundle, methods=["POST"]),
        ]
        handlers: Any = {404: self._no_route, 405: self._no_route}
        return Starlette(routes=routes, exception_handlers=handlers)

    async def _observation(self, request: Request) -> Response:
        return await self._handle(request, "Observation")

    async def _bundle(self, request: Request) -> Response:
        return await self._handle(request, "Bundle")

    async def _no_route(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        text = "method not allowed" if status == 405 else "no such endpoint"
        return self._refuse(status, "not-supported", "no_route", text)

    async def _handle(self, request: Request, kind: fhir.Kind) -> Response:
        received = time.monotonic()
        response = await self._answer(request, kind)
        elapsed = time.monotonic() - received
        self._metrics.gateway_ack_latency.labels(PROTOCOL, str(response.status_code)).observe(
            elapsed
        )
        return response

    async def _answer(self, request: Request, kind: fhir.Kind) -> Response:
        if self._credentials.identify(request.headers.get("authorization", "")) is None:
            diagnostics = "a bearer token from api.tokens_file is required"
            return self._refuse(401, "login", "unauthorized", diagnostics, challenge=True)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in _TAKEN_TYPES:
            diagnostics = f"send {MEDIA_TYPE} or application/json"
            return self._refuse(415, "not-supported", "media_type", diagnostics)
        try:
            raw = await read_body(request)
        except TooLarge:
            diagnostics = f"the body is over {MAX_BODY} bytes; send fewer Observations at once"
            return self._refuse(413, "too-long", "too_large", diagnostics)
        except ClientDisconnect:  # nobody to answer; nothing written
            return Response(status_code=400)
        peer = f"{request.client.host}:{request.client.port}" if request.client else ""
        now_ms = int(time.time() * 1000)
        try:
            mapped = fhir.readings(raw, kind, now_ms, self._settings.rules.max_clock_skew)
        except fhir.Refused as refused:
            return await self._dead_letter(raw, refused, peer)
        return await self._write(mapped)

    async def _write(self, mapped: Mapped) -> Response:
        topics = self._settings.topics
        try:
            await self._publisher.publish([reading_record(r, topics) for r in mapped.readings])
        except DeliveryFailed as exc:
            diagnostics = f"not_written: {exc}; send it again"
            return self._refuse(503, "transient", "not_written", diagnostics)
        for reading in mapped.readings:
            self._metrics.gateway_readings.labels(PROTOCOL, reading.signal.value).inc()
        for reason, count in mapped.skipped.items():
            self._metrics.gateway_skipped.labels(PROTOCOL, reason).inc(count)
        self._metrics.gateway_messages.labels(PROTOCOL, "accepted", "").inc()
        written = _written(len(mapped.readings), mapped.skipped)
        body = outcome("information", "informational", written)
        return JSONResponse(body, 201, media_type=MEDIA_TYPE)

    async def _dead_letter(self, raw: bytes, refused: fhir.Refused, peer: str) -> Response:
        topic = self._settings.topics.deadletter
        letter = dead_letter_record(raw, refused.reason, PROTOCOL, peer, topic)
        code = _ISSUE_CODES.get(refused.kind, "invalid")
        try:
            await self._publisher.publish([letter])
        except DeliveryFailed as failed:
            diagnostics = f"{refused}; dead letter not written: {failed}; send it again"
            return self._refuse(503, "transient", "dead_letter_not_written", diagnostics)
        return self._refuse(refused.status, code, refused.kind, str(refused), where=refused.where)

    def _refuse(
        self,
        status: int,
        code: str,
        reason: str,
        diagnostics: str,
        where: str = "",
        challenge: bool = False,
    ) -> Response:
        kind = "failed" if status >= 500 else "rejected"
        self._metrics.gateway_messages.labels(PROTOCOL, kind, reason).inc()
        event = "gateway.not_written" if status >= 500 else "gateway.refused"
        log.warning(event, protocol=PROTOCOL, status=status, reason=reason, where=where or None)
        body = outcome("error", code, diagnostics, where)
        extra = {"WWW-Authenticate": "Bearer"} if challenge else {}
        return JSONResponse(body, status, headers=extra, media_type=MEDIA_TYPE)


def _written(count: int, skipped: Counter[str]) -> str:
    text = f"{count} reading{'s' if count != 1 else ''} written"
    if skipped:
        text += "; skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
    return text
