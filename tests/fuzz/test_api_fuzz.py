"""Fuzz of the notification API over a real socket (hypothesis, derandomized): generated
methods, paths, credentials, headers, bodies and Content-Length values (right, missing,
negative, longer or shorter than the body, malformed, huge, twice, chunked well and badly),
sent whole, in pieces or stopped half-way. For every request:

- it is answered or its connection closed within ``api.request_timeout`` plus slack (a client
  socket timeout past that fails the test: the server hung);
- no answer is a 5xx;
- a refused request (4xx, or no answer) changes nothing: silences, acknowledgements, audit;
- whatever was stored ends at a finite time within ``api.max_silence`` and names a credential.

And the server holds no more threads after the run than before it, and none once stopped.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.config_mutations import HYPOTHESIS
from tests.unit.notify.api_harness import (
    NURSE,
    NURSE_TOKEN,
    PAGER,
    PAGER_TOKEN,
    Exchange,
    Served,
    exchange,
    serve_api,
)
from tests.unit.notify.harness import alert
from vitalwatch.notify.stores.alerts import Source

pytestmark = pytest.mark.fuzz

TIMEOUT_S = 0.5
BOUND_S = TIMEOUT_S + 2.5  # the deadline, a keep-alive close and a busy 2-core machine
NOW = time.time()  # the generated times are fixed for a run: hypothesis replays them
KNOWN_ALERT = alert()
ALERT_IDS = [KNOWN_ALERT.alert_id, alert(patient="P-9").alert_id, "x" * 36, "../../etc"]

_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_URL_TEXT = st.text(st.sampled_from("abcdefz0189-_./%?&=~:;@!$'()*+,ñ "), min_size=0, max_size=60)
METHODS = st.one_of(
    st.sampled_from(["GET", "POST", "POST", "POST"]),
    st.sampled_from(["PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE"]),
    st.text(st.sampled_from("ABCDEFGPOST-"), min_size=1, max_size=12),
)
PATHS = st.one_of(
    st.just("/api/v1/silences"),
    st.sampled_from(["/api/v1/silences/", "/", "/metrics", "/ack/"]),
    st.builds("/api/v1/alerts/{}/ack".format, st.sampled_from(ALERT_IDS)),
    st.builds("/api/v1/silences/{}/expire".format, st.one_of(_URL_TEXT, st.just("0" * 12))),
    st.builds("/ack/{}?sig={}".format, st.sampled_from(ALERT_IDS), _URL_TEXT),
    st.builds("/{}".format, _URL_TEXT),
)
AUTHORIZATION = st.one_of(
    st.sampled_from([f"Bearer {NURSE_TOKEN}", f"Bearer {PAGER_TOKEN}"]),
    st.none(),
    st.sampled_from(
        [
            f"Bearer {NURSE_TOKEN}",
            f"bearer {PAGER_TOKEN}",
            f"Basic {NURSE_TOKEN}",
            f"Bearer {NURSE_TOKEN[:-1]}",
            "Bearer",
            "",
        ]
    ),
    st.builds("Bearer {}".format, _TEXT),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.builds(lambda d: NOW + d, st.floats(-1e6, 1e6)),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
SILENCE_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "matchers": st.one_of(
            st.lists(
                st.sampled_from(
                    [
                        "patient_id=P-0042",
                        "ward=ICU-A",
                        "patient_id=~.*",
                        "severity!=low",
                        "bad",
                        "x=",
                    ]
                ),
                max_size=4,
            ),
            JSON_VALUES,
        ),
        "reason": st.one_of(_TEXT, JSON_VALUES),
        "duration": st.one_of(
            st.sampled_from(["1h", "2h", "12h", "13h", "0s", "90", ""]), _TEXT, NUMBERS
        ),
        "ends_at": st.one_of(NUMBERS, _TEXT),
        "by": _TEXT,
    },
)
VALID_SILENCES = st.fixed_dictionaries(
    {
        "matchers": st.just(["patient_id=P-0042"]),
        "reason": st.just("theatre"),
        "duration": st.sampled_from(["1h", "12h", "13h", "0s"]),
    }
)
BODIES = st.one_of(
    st.builds(lambda b: json.dumps(b).encode(), VALID_SILENCES),
    st.builds(lambda b: json.dumps(b).encode(), SILENCE_BODIES),
    st.builds(lambda b: json.dumps(b).encode(), JSON_VALUES),
    st.sampled_from([b"", b"{}", b"{", b'{"a": 1, "a": 2}', b"[" * 5000, b"\xff\xfe{}"]),
    st.binary(max_size=200),
)
LENGTHS = st.one_of(
    st.just("exact"),
    st.sampled_from(["none", "negative", "more", "less", "garbage", "huge", "twice", "chunked",
                     "bad-chunks"]),
)  # fmt: skip
EXTRA_HEADERS = st.lists(
    st.tuples(st.text(st.sampled_from("abcXYZ-_0"), min_size=1, max_size=12), _TEXT), max_size=3
)
DELIVERY = st.one_of(st.just("whole"), st.sampled_from(["pieces", "stop-early"]))


def _framed(body: bytes, length: str) -> tuple[list[str], bytes]:
    """Headers saying how long the body is (truthfully or not), and the bytes to send."""
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
    return {
        "exact": ([f"Content-Length: {len(body)}"], body),
        "none": ([], body),
        "negative": (["Content-Length: -1"], body),
        "more": ([f"Content-Length: {len(body) + 7}"], body),
        "less": ([f"Content-Length: {max(0, len(body) - 3)}"], body),
        "garbage": (["Content-Length: 12abc"], body),
        "huge": ([f"Content-Length: {10**30}"], body),
        "twice": ([f"Content-Length: {len(body)}", f"Content-Length: {len(body) + 1}"], body),
        "chunked": (["Transfer-Encoding: chunked"], chunked),
        "bad-chunks": (["Transfer-Encoding: chunked"], b"zz\r\n" + body),
    }[length]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, bytes, int, float]:
    if draw(st.integers(0, 2)) == 0:  # a request that would store something, then framed
        method, authorization = "POST", f"Bearer {NURSE_TOKEN}"  # and sent as drawn below
        path = draw(
            st.sampled_from(["/api/v1/silences", f"/api/v1/alerts/{KNOWN_ALERT.alert_id}/ack"])
        )
        body = json.dumps(draw(VALID_SILENCES)).encode() if "silences" in path else b""
    else:
        method, path, authorization = draw(METHODS), draw(PATHS), draw(AUTHORIZATION)
        body = draw(BODIES) if draw(st.booleans()) or method == "POST" else b""
    length_headers, payload = _framed(body, draw(LENGTHS))
    headers = ["Host: 127.0.0.1", *length_headers]
    if authorization is not None:
        headers.append(f"Authorization: {authorization}")
    if draw(st.booleans()):
        headers.append("Connection: close")
    headers += [f"{name}: {value}" for name, value in draw(EXTRA_HEADERS)]
    head = f"{method} {path} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n"
    request = head.encode("utf-8") + payload
    delivery = draw(DELIVERY)
    if delivery == "stop-early":
        request = request[: draw(st.integers(0, max(0, len(request) - 1)))]
    pieces = draw(st.integers(2, 6)) if delivery == "pieces" else 1
    return method, request, pieces, draw(st.sampled_from([0.0, 0.01]))


def _send(api: Served, method: str, request: bytes, pieces: int, pause: float) -> Exchange:
    size = math.ceil(len(request) / pieces) or 1
    split = [request[i : i + size] for i in range(0, len(request), size)] or [b""]
    return exchange(api.port, split, bound=BOUND_S, pause=pause, method=method)


def test_generated_requests_are_answered_or_closed_in_time_and_refusals_store_nothing(
    tmp_path: Path,
) -> None:
    before = threading.active_count()
    with serve_api(tmp_path, request_timeout=f"{int(TIMEOUT_S * 1000)}ms") as api:
        api.ops.alerts.ingest(KNOWN_ALERT, Source("t", 0, 1), 1.0)
        serving = threading.active_count()
        statuses: dict[int | None, int] = {}
        errors = _ServerErrors()
        for logger in SERVER_LOGGERS:
            logging.getLogger(logger).addHandler(errors)

        @settings(HYPOTHESIS, max_examples=400)
        @given(requests())
        def one(generated: tuple[str, bytes, int, float]) -> None:
            method, request, pieces, pause = generated
            stored = api.stored()
            answer = _send(api, method, request, pieces, pause)  # TimeoutError: a hang
            time.sleep(0.01)
            assert errors.taken() == [], answer  # an exception in the server (a 500 or a close)
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            assert answer.status is None or answer.status < 500, answer
            if answer.status is None or answer.status >= 400:
                assert api.stored() == stored, answer

        try:
            one()
        finally:
            for logger in SERVER_LOGGERS:
                logging.getLogger(logger).removeHandler(errors)
        _stored_silences_are_bounded(api)
        time.sleep(TIMEOUT_S)
        assert threading.active_count() == serving
        # the run reached the API's own answers, not only the parser's refusals
        assert statuses.get(201, 0) + statuses.get(200, 0) > 0 and statuses.get(None, 0) > 0
        assert statuses.get(401, 0) > 0 and statuses.get(400, 0) > 0
    assert threading.active_count() == before


SERVER_LOGGERS = ("uvicorn.error", "asyncio")


class _ServerErrors(logging.Handler):
    """What the server logs at ERROR: an exception in the application or the protocol."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(f"{record.getMessage()} {record.exc_info and record.exc_info[1]!r}")

    def taken(self) -> list[str]:
        records, self._records = self._records, []
        return records


def _stored_silences_are_bounded(api: Served) -> None:
    for silence in api.ops.silences.list(0, include_expired=True):
        assert math.isfinite(silence.ends_at)
        assert silence.ends_at - silence.starts_at <= api.settings.max_silence / 1000
        assert silence.created_by in (NURSE, PAGER)
    for ack in [api.ops.acks.get(KNOWN_ALERT.alert_id)]:
        assert ack is None or ack.by in (NURSE, PAGER)
