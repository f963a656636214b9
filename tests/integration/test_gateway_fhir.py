"""The FHIR endpoint on the real broker, spoken to by a real HTTP client (urllib): an
Observation and a Bundle of every signal answered 201 once their readings are on their topics,
keyed by patient; no token 401; a malformed body an OperationOutcome 400, dead-lettered; with
no broker to confirm, 503 for readings and for a refusal's dead letter alike; and
``vitalwatch gateway fhir`` as the console command runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.conftest import Daemon, scrape, settings_env
from tests.integration.gateway_rig import (
    READING_TOPICS,
    gateway_settings,
    post,
    read_topics,
    serving_fhir,
    with_token,
)
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
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(kafka: LocalBroker, tmp_path: Path) -> Settings:
    return with_token(gateway_settings(kafka, tmp_path), tmp_path)


def test_an_observation_and_a_bundle_reach_their_topics_answered_201(settings: Settings) -> None:
    vitals = bundle(
        blood_pressure(118, 76, 90, patient="P-0043"),
        observation("59408-5", 97, "%", patient="P-0043"),
        observation("9279-1", 18, "/min", patient="P-0043"),
        observation("8310-5", 98.6, "[degF]", patient="P-0043"),
    )
    with serving_fhir(settings) as base:
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
    with serving_fhir(settings) as base:
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
    with serving_fhir(settings) as base:
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
    with serving_fhir(settings, create_topics=False) as base:
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
