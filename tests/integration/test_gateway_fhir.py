"""The FHIR endpoint on the real broker, spoken to by a real HTTP client (urllib): an
Observation and a Bundle of every signal answered 201 once their readings are on their topics,
keyed by patient; no token 401; a malformed body an OperationOutcome 400, dead-lettered; with
no broker to confirm, 503 for readings and for a refusal's dead letter alike; and
``vitalwatch gateway fhir`` as the console command runs it."""

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

from tests.conftest import free_port
from tests.integration.conftest import Daemon, scrape, settings_env
from tests.integration.gateway_rig import READING_TOPICS, gateway_settings, read_topics
from tests.unit.gateway.fhir_resources import (
    TIME,
    blood_pressure,
    bundle,
    coding,
    consciousness,
    observation,
    raw,
    spo2,
)
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


def with_token(settings: Settings, root: Path) -> Settings:
    tokens = root / "tokens"
    tokens.write_text(f"monitor-gateway:{TOKEN}\n")
    settings.api = settings.api.model_copy(update={"tokens_file": tokens, "port": 0})
    return settings


@pytest.fixture
def settings(kafka: LocalBroker, tmp_path: Path) -> Settings:
    return with_token(gateway_settings(kafka, tmp_path), tmp_path)


@contextlib.contextmanager
def serving(settings: Settings, create_topics: bool = True) -> Iterator[str]:
    """The endpoint as ``vitalwatch gateway fhir`` serves it, in this process; its base URL."""
    if create_topics:
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


def post(
    url: str, body: bytes, token: str | None = TOKEN, media: str = "application/fhir+json"
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": media}
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
        xml = post(f"{base}/fhir/Observation", raw(observation()), media="application/fhir+xml")
        too_big = post(f"{base}/fhir", raw(bundle(*[observation()] * 40)))
    assert (no_token[0], wrong_token[0], xml[0], too_big[0]) == (401, 401, 415, 413)
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


def test_air_or_oxygen_and_consciousness_reach_their_topics(settings: Settings) -> None:
    news2 = bundle(
        spo2(92, ("3151-8", 2, "L/min")), consciousness({"coding": [coding("LA17108-4")]}),
        observation("3150-0", 40, "%", patient="P-0043"),
    )  # fmt: skip
    unknown = raw(consciousness({"text": "drowsy"}))
    with serving(settings) as base:
        written = post(f"{base}/fhir", raw(news2))
        refused = post(f"{base}/fhir/Observation", unknown)
    assert written[0] == 201, written
    diagnostics = written[1]["issue"][0]["diagnostics"]
    assert diagnostics == "2 readings written; skipped: 1 oxygen_alone"
    assert refused[0] == 400
    assert refused[1]["issue"][0]["code"] == "code-invalid"
    topics = [settings.topics.spo2, settings.topics.consciousness]
    got = {r.topic: r.value for r in read_topics(settings, topics)}
    assert got == {
        settings.topics.spo2: b'{"patient_id": "P-0042", "ts": "2026-11-25T14:00:00.250Z", '
                              b'"spo2": 92.0, "on_oxygen": true}',
        settings.topics.consciousness: b'{"patient_id": "P-0042", "ts": '
                                       b'"2026-11-25T14:00:00.250Z", "acvpu": "V"}',
    }  # fmt: skip
    letters = read_topics(settings, [settings.topics.deadletter])
    assert [(d.value, d.headers["reason"]) for d in letters] == [
        (unknown, b"unknown_answer:level of responsiveness drowsy")
    ]


def test_without_a_broker_every_answer_is_503_and_nothing_is_201(tmp_path: Path) -> None:
    """Nothing listens at the bootstrap address: neither readings nor a dead letter can be
    confirmed, so the sender is told to send again (no Java here: a real producer, no broker)."""
    settings = with_token(Settings(state_dir=tmp_path), tmp_path)
    settings.kafka.bootstrap_servers = f"127.0.0.1:{free_port()}"
    settings.gateway.delivery_timeout = 1000
    with serving(settings, create_topics=False) as base:
        readings = post(f"{base}/fhir/Observation", raw(observation()))
        malformed = post(f"{base}/fhir/Observation", raw(observation(value=400)))
    assert readings[0] == 503
    assert readings[1]["issue"][0]["code"] == "transient"
    assert readings[1]["issue"][0]["diagnostics"].startswith("not_written:")
    assert malformed[0] == 503
    assert "dead letter not written" in malformed[1]["issue"][0]["diagnostics"]


def test_the_command_serves_until_sigterm(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = settings_env(settings, [])
    env["VITALWATCH_API__TOKENS_FILE"] = str(settings.api.tokens_file)
    env["VITALWATCH_GATEWAY__FHIR_PORT"] = str(port)
    for name in ("spo2", "respiration", "temperature", "consciousness"):
        env[f"VITALWATCH_TOPICS__{name.upper()}"] = getattr(settings.topics, name)
    gateway = Daemon(env, tmp_path / "gateway.log", args=("gateway", "fhir"))
    try:
        gateway.wait_for_event("gateway.listening", timeout=60)
        status, _ = post(f"http://127.0.0.1:{port}/fhir/Observation", raw(observation()))
        samples = scrape(settings)
    finally:
        code = gateway.stop(timeout=30)
    assert (status, code) == (201, 0)
    key = 'vitalwatch_gateway_messages_total{outcome="accepted",protocol="fhir",reason=""}'
    assert samples[key] == 1
    (record,) = read_topics(settings, [settings.topics.heart_rate])
    assert (record.key, json.loads(record.value)["bpm"]) == (b"P-0042", 88.0)
