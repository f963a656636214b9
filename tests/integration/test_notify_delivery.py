"""The notifier alone on the real broker, delivering to real receivers: an SMTP server through
``mailto://`` and HTTP webhooks through ``json://``. Alerts are published to the alerts topic
directly, so these tests need no Spark."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import replace
from urllib.request import Request, urlopen

import pytest
from confluent_kafka import Producer

from tests.integration.notify_rig import (
    API_TOKEN,
    Hooks,
    hooks,
    mailbox,
    notifier,
    publish_alerts,
    serve_hooks,
)
from tests.integration.scenario import read_topic
from tests.unit.notify.harness import alert
from vitalwatch.contracts.alerts import AlertState
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.notify.operations import state_file
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration
__all__ = ["hooks", "mailbox", "notifier"]  # fixtures


def api(settings: Settings, path: str, body: dict[str, object]) -> dict[str, object]:
    request = Request(
        f"http://127.0.0.1:{settings.api.port}{path}", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_TOKEN}"}, method="POST",
    )  # fmt: skip
    with urlopen(request, timeout=5) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def alert_ids(text: str) -> list[str]:
    return re.findall(r"Alert id (\S+)", text)


def test_a_burst_for_one_patient_is_one_email_and_one_webhook_message(
    settings, notifier, hooks, mailbox
) -> None:
    process = notifier(f"""
route: {{receiver: ward, group_wait: 3s}}
receivers:
  - name: ward
    tiers: [{{urls: ["{mailbox.url("nurse@example.org")}", "{hooks.url("ward")}"], throttle: 0s}}]
""")
    rules = ["tachycardia-sustained", "map-below-65", "systolic-falling", "bradycardia", "x"]
    burst = [alert(rule=rule, onset_s=i) for i, rule in enumerate(rules)]
    published = publish_alerts(settings, burst[:3])
    time.sleep(1)
    publish_alerts(settings, [*burst[3:], alert(patient="P-0001")])
    (message, other) = hooks.wait_for("ward", 2, timeout=30)
    if "P-0001" in message["message"]:
        message, other = other, message
    assert sorted(alert_ids(message["message"])) == sorted(a.alert_id for a in burst)
    assert alert_ids(other["message"]) == [alert(patient="P-0001").alert_id]
    first_published = min(published.values())
    print(f"burst of 5 -> one message after {message['at'] - first_published:.2f} s")
    assert message["at"] - first_published >= 3.0  # it waited group_wait
    deadline = time.monotonic() + 10
    while len(mailbox.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # a further message, if any, would have arrived
    mails = mailbox.texts()
    assert len(mails) == 2 and len(hooks.messages("ward")) == 2
    (burst_mail,) = [body for _, body in mails if "P-0042" in body]
    assert sorted(alert_ids(burst_mail)) == sorted(a.alert_id for a in burst)
    assert "Patient P-0042, bed 12, ward ICU-A" in burst_mail
    assert process.stop() == 0


ESCALATION = """
route: {{receiver: ward, group_wait: 0s}}
receivers:
  - name: ward
    tiers:
      - {{urls: ["{nurse}"], escalate_after: 4s}}
      - {{urls: ["{charge}"]}}
"""


def test_escalation_to_tier_two_without_ack_and_an_api_ack_stops_it(
    settings, notifier, hooks
) -> None:
    process = notifier(ESCALATION.format(nurse=hooks.url("nurse"), charge=hooks.url("charge")))
    acked, ignored = alert(patient="P-0001"), alert(patient="P-0002")
    publish_alerts(settings, [acked, ignored])
    nurse = hooks.wait_for("nurse", 2, timeout=30)
    link = re.search(r"Acknowledge: (\S+)", next(
        m["message"] for m in nurse if acked.alert_id in m["message"]
    ))  # fmt: skip
    assert link is not None and link.group(1).startswith(f"http://127.0.0.1:{settings.api.port}")
    result = api(settings, f"/api/v1/alerts/{acked.alert_id}/ack", {})
    assert result["new"] is True and result["by"] == "api-token"  # api.token_file's name
    (escalated,) = hooks.wait_for("charge", 1, timeout=20)
    assert escalated["title"].startswith("[HIGH] ESCALATED")
    assert alert_ids(escalated["message"]) == [ignored.alert_id]
    assert "not acknowledged within 4s" in escalated["message"]
    time.sleep(5)  # the acknowledged alert's tier-1 time has long passed
    assert len(hooks.messages("charge")) == 1
    # the escalation is on the alerts topic too, after the two alerts published above
    records = [json.loads(m.value()) for m in read_topic(settings, settings.topics.alerts, 3, 10)]
    assert [(r["alert_id"], r["state"], r["labels"]["escalated_to"], r["labels"]["tier"])
            for r in records[2:]] == [(ignored.alert_id, "escalated", "ward", "2")]  # fmt: skip
    assert process.stop() == 0
    trail = {
        a.alert_id: [e.event for e in AuditLog(state_file(settings)).query(alert_id=a.alert_id)]
        for a in (acked, ignored)
    }
    assert trail[acked.alert_id] == ["alert.firing", "notification.sent", "alert.acknowledged"]
    assert trail[ignored.alert_id] == [
        "alert.firing", "notification.sent", "alert.escalated", "notification.sent",
    ]  # fmt: skip


SILENCE_AND_INHIBIT = """
route: {{receiver: ward, group_wait: 1s, group_interval: 1s}}
receivers:
  - name: ward
    tiers: [{{urls: ["{ward}"]}}]
inhibit_rules:
  - source_matchers: [rule_id=news2-emergency]
    target_matchers: ["rule_id=~tachycardia-.*|systolic-.*"]
    equal: [patient_id]
"""


def test_a_silence_suppresses_its_expiry_restores_and_news2_inhibits(
    settings, notifier, hooks
) -> None:
    notifier(SILENCE_AND_INHIBIT.format(ward=hooks.url("ward")))
    theatre_silence = {"matchers": ["patient_id=P-0001"], "duration": "1h", "reason": "theatre"}
    silence = api(settings, "/api/v1/silences", theatre_silence)
    theatre, other = alert(patient="P-0001"), alert(patient="P-0002")
    emergency = alert(patient="P-0003", rule="news2-emergency")
    covered = alert(patient="P-0003", rule="tachycardia-sustained")
    publish_alerts(settings, [theatre, other, emergency, covered])
    hooks.wait_for("ward", 2, timeout=30)
    time.sleep(3)
    delivered = [i for m in hooks.messages("ward") for i in alert_ids(m["message"])]
    assert sorted(delivered) == sorted([other.alert_id, emergency.alert_id])
    api(settings, f"/api/v1/silences/{silence['id']}/expire", {})
    (*_, restored) = hooks.wait_for("ward", 3, timeout=15)
    assert alert_ids(restored["message"]) == [theatre.alert_id]
    publish_alerts(settings, [replace(emergency, state=AlertState.RESOLVED)])
    (*_, uncovered) = hooks.wait_for("ward", 4, timeout=15)
    assert alert_ids(uncovered["message"]) == [covered.alert_id]


def test_a_receiver_that_is_down_is_retried_then_handed_to_the_fallback(
    settings, notifier, hooks
) -> None:
    held = socket.socket()  # bound, not listening: the port is ours and refuses connections
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", 0))
    down = held.getsockname()[1]
    process = notifier(f"""
route: {{receiver: ward, group_wait: 0s}}
receivers:
  - name: ward
    tiers: [{{urls: ["json://127.0.0.1:{down}/ward"]}}]
  - name: ops
    tiers: [{{urls: ["{hooks.url("ops")}"]}}]
fallback: ops
""")
    a = alert()
    publish_alerts(settings, [a])
    process.wait_for_event("notify.attempt_failed", timeout=30)  # attempt 1: refused
    held.close()
    with serve_hooks(down) as failing:  # the receiver comes up, answering 500
        failing.status["ward"] = 500
        (technical,) = hooks.wait_for("ops", 1, timeout=30)
    assert failing.requests == {"ward": 2}  # attempts 2 and 3
    assert technical["title"] == "[TECHNICAL] vitalwatch: notification to ward failed"
    assert a.alert_id in technical["message"]
    assert process.count("notify.attempt_failed") == 3 and process.count("notify.failed") == 1
    (dead,) = read_topic(settings, settings.topics.deadletter, 1, timeout=20)
    assert dict(dead.headers())["reason"] == b"notification_failed:json"
    assert json.loads(dead.value())["alert_id"] == a.alert_id
    assert process.stop() == 0


def test_a_malformed_alert_message_is_dead_lettered_and_delivery_goes_on(
    settings, notifier, hooks
) -> None:
    process = notifier(f"""
route: {{receiver: ward, group_wait: 0s}}
receivers: [{{name: ward, tiers: [{{urls: ["{hooks.url("ward")}"]}}]}}]
""")
    ensure_topics(settings)
    producer = Producer(client_config(settings))
    producer.produce(settings.topics.alerts, key=b"P-0001", value=b'{"rule_id": "x"')
    producer.flush(10)
    a = alert()
    publish_alerts(settings, [a])
    (message,) = hooks.wait_for("ward", 1, timeout=30)
    assert alert_ids(message["message"]) == [a.alert_id]
    (dead,) = read_topic(settings, settings.topics.deadletter, 1, timeout=20)
    assert dict(dead.headers())["reason"] == b"bad_alert_message"
    assert dead.value() == b'{"rule_id": "x"'
    assert process.stop() == 0


ROUTE_TO = """
route: {{receiver: {name}, group_wait: 0s}}
receivers:
  - name: {name}
    tiers: [{{urls: ["{url}"], throttle: 0s}}]
"""


def delivered(hooks: Hooks, path: str, alert_id: str, timeout: float) -> bool:
    """Whether a message naming the alert reached the webhook within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(alert_id in m["message"] for m in hooks.messages(path)):
            return True
        time.sleep(0.1)
    return False


def test_notify_serve_rereads_its_routing_when_the_file_is_edited(
    settings, notifier, hooks
) -> None:
    process = notifier(ROUTE_TO.format(name="ward", url=hooks.url("ward")))
    first, second, third = (alert(patient=p) for p in ("P-0001", "P-0002", "P-0003"))
    publish_alerts(settings, [first])
    assert delivered(hooks, "ward", first.alert_id, timeout=30)

    process.routing.write_text(ROUTE_TO.format(name="oncall", url=hooks.url("oncall")))
    process.wait_for_event("routing.reloaded", timeout=30)
    publish_alerts(settings, [second])
    assert delivered(hooks, "oncall", second.alert_id, timeout=30)

    invalid = ROUTE_TO.format(name="oncall", url=hooks.url("x"))
    process.routing.write_text(invalid.replace("receiver: oncall", "receiver: nobody"))
    rejected = process.wait_for_event("routing.reload_rejected", timeout=30)
    assert "unknown receiver 'nobody'" in rejected["error"]
    publish_alerts(settings, [third])
    assert delivered(hooks, "oncall", third.alert_id, timeout=30)
    ward = " ".join(m["message"] for m in hooks.messages("ward"))
    assert second.alert_id not in ward and third.alert_id not in ward
    assert not hooks.messages("x")
