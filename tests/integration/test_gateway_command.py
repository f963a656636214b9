"""``vitalwatch gateway hl7`` as the console command runs it: it listens, answers AA, serves its
metrics and readiness, and stops cleanly on SIGTERM (exit 0, producer flushed)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.integration.conftest import Daemon, scrape, settings_env
from tests.integration.gateway_rig import ack_code, gateway_settings, read_topics, send
from tests.unit.gateway.messages import vitals
from vitalwatch.infra.broker import LocalBroker

pytestmark = pytest.mark.integration


def test_the_command_serves_until_sigterm(kafka: LocalBroker, tmp_path: Path) -> None:
    settings = gateway_settings(kafka, tmp_path)
    env = settings_env(settings, [])
    env["VITALWATCH_GATEWAY__PORT"] = str(settings.gateway.port)
    gateway = Daemon(env, tmp_path / "gateway.log", args=("gateway", "hl7"))
    try:
        gateway.wait_for_event("gateway.listening", timeout=60)
        (answer,) = send(settings.gateway.port, [vitals(patient="P-0077")])
        assert ack_code(answer) == "AA"
        samples = scrape(settings)
        ready = json.loads(
            urlopen(f"http://127.0.0.1:{settings.http.port}/readyz", timeout=5).read()
        )
    finally:
        code = gateway.stop(timeout=30)
    assert code == 0
    assert (
        samples['vitalwatch_gateway_messages_total{outcome="accepted",protocol="hl7",reason=""}']
        == 1
    )
    assert ready["status"] == "ready"
    assert [e["event"] for e in gateway.events if e["event"].startswith("gateway.")][-1] == (
        "gateway.stopped"
    )
    (record,) = read_topics(settings, [settings.topics.temperature])
    assert (record.key, json.loads(record.value)["celsius"]) == (b"P-0077", 37.2)
