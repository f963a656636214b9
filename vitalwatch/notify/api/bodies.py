"""What a request body may say, checked before anything is stored.

Bodies are JSON objects of at most ``MAX_BODY`` bytes. Numbers must be finite (``NaN``,
``Infinity`` and overflowing literals such as ``1e400`` are refused), a key may appear once,
and a field the endpoint does not know is an error rather than ignored. In particular the
body cannot say who acts: that is the credential's name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from vitalwatch.durations import parse_duration_ms

MAX_BODY = 16_384
MAX_MATCHERS = 32
MAX_TEXT = 1_000


class BadRequest(ValueError):
    """The body is not what the endpoint takes; the message says what to send instead."""


class TooLarge(Exception):
    """The body is over ``MAX_BODY`` bytes (answered 413)."""


async def read_body(request: Request) -> bytes:
    """The body's bytes, read no further than ``MAX_BODY``: ``TooLarge`` beyond, as soon as the
    ``Content-Length`` says so or the bytes show it. A client gone raises ``ClientDisconnect``."""
    length = request.headers.get("content-length", "")
    if len(length) > 9 or (length.isdigit() and int(length) > MAX_BODY):
        raise TooLarge
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise TooLarge
    return bytes(raw)


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(
            raw, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique
        )
    except BadRequest:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def _no_constant(name: str) -> float:
    raise BadRequest(f"{name} is not a number the API takes; send a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"{text[:40]} is out of range; send a finite number")
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadRequest(f"the key {key[:40]!r} appears twice in the body")
        result[key] = value
    return result


def no_fields(body: dict[str, Any]) -> None:
    """Acknowledge and expire take no fields."""
    _known(body, set())


def _known(body: dict[str, Any], fields: set[str]) -> None:
    for key in body:
        if key in ("by", "created_by"):
            raise BadRequest(
                f"'{key}' is not accepted: the API records the name of the credential "
                "(bearer token) that makes the request"
            )
        if key not in fields:
            takes = ", ".join(sorted(fields)) or "no fields"
            raise BadRequest(f"unknown field {key[:40]!r}; this endpoint takes {takes}")


@dataclass(frozen=True)
class SilenceRequest:
    matchers: list[str]
    ends_at: float
    reason: str

    @classmethod
    def parse(cls, body: dict[str, Any], now: float) -> SilenceRequest:
        """``{"matchers": [...], "reason": "...", "duration": "2h"}`` or ``"ends_at": <epoch s>``
        instead of ``duration``. Limits on scope and length are the store's (``SilenceStore``).
        """
        _known(body, {"matchers", "reason", "duration", "ends_at"})
        matchers = body.get("matchers")
        if (
            not isinstance(matchers, list)
            or not 0 < len(matchers) <= MAX_MATCHERS
            or not all(isinstance(m, str) and len(m) <= MAX_TEXT for m in matchers)
        ):
            raise BadRequest(
                f"'matchers' must be a list of 1 to {MAX_MATCHERS} texts such as "
                "['patient_id=P-0042']"
            )
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_TEXT:
            raise BadRequest(f"'reason' must be a text of 1 to {MAX_TEXT} characters")
        return cls(list(matchers), _ends_at(body, now), reason)


def _ends_at(body: dict[str, Any], now: float) -> float:
    if ("duration" in body) == ("ends_at" in body):
        raise BadRequest("give either 'duration' (e.g. '2h') or 'ends_at' (epoch seconds)")
    if "duration" in body:
        duration = body["duration"]
        if not isinstance(duration, str):
            raise BadRequest("'duration' must be a text such as '90m' or '2h'")
        try:
            return now + parse_duration_ms(duration) / 1000
        except ValueError as exc:
            raise BadRequest(f"'duration': {exc}") from None
    ends_at = body["ends_at"]
    if isinstance(ends_at, bool) or not isinstance(ends_at, (int, float)):
        raise BadRequest("'ends_at' must be a number: epoch seconds")
    try:
        seconds = float(ends_at)
    except OverflowError:  # an integer beyond a float's range
        seconds = math.inf
    if not math.isfinite(seconds):
        raise BadRequest("'ends_at' must be a finite time")
    return seconds
