"""The FHIR endpoint on the real broker, spoken to by a real HTTP client (urllib): an
Observation and a Bundle of every signal answered 201 once their readings are on their topics,
keyed by patient; no token 401; a malformed body an OperationOutcome 400, dead-lettered."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.integration.gateway_rig import READING_TOPICS, gateway_settings, read_topics
from tests.unit.gateway.fhir_resources import TIME, blood_pressure, bundle, observation, raw
from vitalwatch.gateway.fhir_api import FhirApp
from vitalwatch.gateway.publish import KafkaPublisher
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.notify.api.credentials import load_credentials
from vitalwatch.notify.api.server import ApiServer
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "fhir-test-token-0123456789"


@pytest.fixture
def settings(kafka: LocalBroker, tmp_path: Path) -> Settings:
    settings = gateway_settings(kafka, tmp_path)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"monitor-gateway:{TOKEN}\n")
    settings.api = settings.api.model_copy(update={"tokens_file": tokens, "port": 0})
    return settings


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The endpoint as ``vitalwatch gateway fhir`` serves it, in this process; its base URL."""
    ensure_topics(settings)
    publisher = KafkaPublisher(settings)
    credentials = load_credentials(settings.api)
    assert credentials is not None
    app = FhirApp(settings, publisher, Metrics(CollectorRegistry()), credentials)
    server = ApiServer(settings.api, app.starlette())
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        publisher.close(5)


def post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/fhir+json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_observation_and_a_bundle_reach_their_topics_answered_201(settings: Settings) -> None:
    vitals = bundle(
        blood_pressure(118, 76, 90, patient="P-0043"),
        observation("59408-5", 97, "%", patient="P-0043"),
        observation("9279-1", 18, "/min", patient="P-0043"),
        observation("8310-5", 98.6, "[degF]", patient="P-0043"),
    )
    with serving(settings) as base:
        single = post(f"{base}/fhir/Observation", raw(observation(value=88)))
        several = post(f"{base}/fhir", raw(vitals))
    assert single[0] == 201, single
    assert several[0] == 201, several
    assert several[1]["issue"][0]["diagnostics"] == "4 readings written"
    topics = [getattr(settings.topics, name) for name in READING_TOPICS]
    written = {r.topic: (r.key, json.loads(r.value)) for r in read_topics(settings, topics)}
    expected_ts = "2026-11-25T14:00:00.250Z"
    assert TIME.endswith("Z") and written == {
        settings.topics.heart_rate: (b"P-0042", {"patient_id": "P-0042", "ts": expected_ts,
                                                 "bpm": 88.0}),
        settings.topics.blood_pressure: (b"P-0043", {"patient_id": "P-0043", "ts": expected_ts,
                                                     "systolic": 118.0, "diastolic": 76.0,
                                                     "mean": 90.0}),
        settings.topics.spo2: (b"P-0043", {"patient_id": "P-0043", "ts": expected_ts,
                                           "spo2": 97.0}),
        settings.topics.respiration: (b"P-0043", {"patient_id": "P-0043", "ts": expected_ts,
                                                  "rate": 18.0}),
        settings.topics.temperature: (b"P-0043", {"patient_id": "P-0043", "ts": expected_ts,
                                                  "celsius": 37.0}),
    }  # fmt: skip


def test_no_token_401_and_malformed_400_dead_lettered(settings: Settings) -> None:
    bad_unit = raw(bundle(observation(), observation("8310-5", 310, "K")))
    with serving(settings) as base:
        no_token = post(f"{base}/fhir/Observation", raw(observation()), token=None)
        wrong_token = post(f"{base}/fhir/Observation", raw(observation()), token="x" * 20)
        refused = post(f"{base}/fhir", bad_unit)
        garbage = post(f"{base}/fhir/Observation", b"{not json")
    assert (no_token[0], wrong_token[0]) == (401, 401)
    assert no_token[1]["resourceType"] == "OperationOutcome"
    assert refused[0] == 400
    issue = refused[1]["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", "code-invalid")
    assert issue["expression"] == ["Bundle.entry[1].resource.valueQuantity.code"]
    assert "unknown_unit:body temperature K" in issue["diagnostics"]
    assert garbage[0] == 400
    letters = read_topics(settings, [settings.topics.deadletter])
    assert sorted((d.value, d.headers["reason"]) for d in letters) == sorted([
        (bad_unit, b"unknown_unit:body temperature K"),
        (b"{not json", b"not_json:the body is not JSON (JSONDecodeError)"),
    ])  # fmt: skip
    assert all(d.headers["source.topic"] == b"fhir" for d in letters)
    heart_rate = read_topics(settings, [settings.topics.heart_rate])
    assert heart_rate == []  # nothing of a refused bundle, nothing unauthenticated
