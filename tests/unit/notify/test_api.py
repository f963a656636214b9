"""The notification HTTP API on a real loopback socket: bearer auth, ack, silences, ack links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from prometheus_client import CollectorRegistry

from vitalwatch.errors import ConfigError
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api import ApiServer, ack_link_maker, read_token, start_api
from vitalwatch.notify.operations import Operations
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.silences import SilenceStore
from vitalwatch.settings import ApiSettings

from .harness import alert

TOKEN = "t0ken-for-the-api-tests"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Operations]]:
    path = tmp_path / "n.sqlite"
    ops = Operations(
        AlertStore(path), AckStore(path), SilenceStore(path), AuditLog(path),
        Metrics(CollectorRegistry()),
    )  # fmt: skip
    server = ApiServer("127.0.0.1", 0, TOKEN, ops)
    server.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", ops
    server.stop()


def call(url: str, body: Any = None, token: str | None = TOKEN, method: str = "POST") -> Any:
    request = Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urlopen(request, timeout=5) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text[:1] in "[{" else text)
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def test_every_api_call_needs_the_bearer_token(api) -> None:
    base, _ = api
    assert call(f"{base}/api/v1/silences", method="GET", token=None)[0] == 401
    assert call(f"{base}/api/v1/silences", method="GET", token="wrong")[0] == 401
    status, _ = call(f"{base}/api/v1/alerts/{alert().alert_id}/ack", {}, token=None)
    assert status == 401


def test_ack_through_the_api(api) -> None:
    base, ops = api
    a = alert()
    assert call(f"{base}/api/v1/alerts/{a.alert_id}/ack", {"by": "nurse"})[0] == 404
    ops.alerts.ingest(a, Source("t", 0, 1), 1.0)
    status, body = call(f"{base}/api/v1/alerts/{a.alert_id}/ack", {"by": "nurse"})
    assert status == 200 and body["new"] is True and body["by"] == "nurse"
    assert call(f"{base}/api/v1/alerts/{a.alert_id}/ack", {})[1]["new"] is False
    ack = ops.acks.get(a.alert_id)
    assert ack is not None and ack.via == "api"


def test_silences_through_the_api(api) -> None:
    base, ops = api
    body = {"matchers": ["patient_id=P-0042"], "duration": "2h", "reason": "theatre"}
    status, created = call(f"{base}/api/v1/silences", body)
    assert status == 201 and created["matchers"] == ["patient_id=P-0042"]
    status, listed = call(f"{base}/api/v1/silences", method="GET")
    assert status == 200 and [s["id"] for s in listed] == [created["id"]]
    assert call(f"{base}/api/v1/silences/{created['id']}/expire", {})[0] == 200
    assert call(f"{base}/api/v1/silences/{created['id']}/expire", {})[0] == 404
    status, error = call(f"{base}/api/v1/silences", {**body, "matchers": ["bad"]})
    assert status == 400 and "not a matcher" in error
    events = [e.event for e in ops.audit.query()]
    assert events == ["silence.added", "silence.expired"]


def test_the_ack_link_acknowledges_that_alert_only_and_only_on_post(api, tmp_path) -> None:
    base, ops = api
    a, other = alert(), alert(patient="P-1")
    for x in (a, other):
        ops.alerts.ingest(x, Source("t", 0, 1), 1.0)
    link = ack_link_maker(ApiSettings(public_url=base), TOKEN)(a.alert_id)
    assert link is not None
    status, page = call(link, method="GET", token=None)
    assert status == 200 and "<form" in page and ops.acks.get(a.alert_id) is None
    assert call(link, {}, token=None)[0] == 200
    assert ops.acks.get(a.alert_id) is not None
    forged = link.replace(a.alert_id, other.alert_id)
    assert call(forged, {}, token=None)[0] == 401 and ops.acks.get(other.alert_id) is None


def test_token_file_rules(tmp_path: Path) -> None:
    assert read_token(ApiSettings()) is None
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(ConfigError, match="16"):
        read_token(ApiSettings(token_file=short))
    with pytest.raises(ConfigError, match="cannot be read"):
        read_token(ApiSettings(token_file=tmp_path / "missing"))
    assert start_api(ApiSettings(), None) is None  # type: ignore[arg-type]
    assert ack_link_maker(ApiSettings(), TOKEN)("x") is None
