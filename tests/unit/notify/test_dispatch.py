"""The delivery chain end to end in memory: grouping, silences, inhibition, escalation, acks,
failure handling and restart idempotency, on explicit times."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vitalwatch.contracts.alerts import AlertState, Severity

from .harness import T0, Harness, alert, resolved

ROUTING = """
route:
  receiver: ward
  group_by: [patient_id]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 0s
  routes:
    - name: rapid
      matchers: [team=rapid-response]
      receiver: rapid
receivers:
  - name: ward
    send_resolved: true
    tiers:
      - urls: ["nurse://"]
        escalate_after: 2m
      - urls: ["charge://"]
        escalate_after: 3m
      - urls: ["rrt://"]
  - name: rapid
    tiers: [{urls: ["rapid://"]}]
  - name: ops
    tiers: [{urls: ["ops://"]}]
fallback: ops
inhibit_rules:
  - source_matchers: [rule_id=news2-emergency]
    target_matchers: ["rule_id=~tachycardia-.*|systolic-.*"]
    equal: [patient_id]
"""


def harness(tmp_path: Path, routing: str = ROUTING) -> Harness:
    return Harness(tmp_path / "n.sqlite", routing)


def test_a_burst_for_one_patient_within_group_wait_is_one_message(tmp_path: Path) -> None:
    h = harness(tmp_path)
    for i, rule in enumerate(["tachycardia-sustained", "map-below-65", "systolic-falling"]):
        h.publish(alert(rule=rule, onset_s=i), at=i * 2)
    h.publish(alert(patient="P-0007"), at=1)
    h.run(0, 9)
    assert h.sent("nurse://") == []  # still within group_wait
    h.run(10, 12)
    messages = h.sent("nurse://")
    assert len(messages) == 2  # one per patient
    (burst,) = [body for _, body in messages if "P-0042" in body]
    assert burst.count("Alert id") == 3 and "3 alerts:" in burst
    h.run(13, 200)
    assert len(h.sent("nurse://")) == 2  # nothing sent twice, nothing even offered twice
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="duplicate") == 0


def test_a_new_alert_after_a_flush_waits_for_group_interval(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.publish(alert(rule="a"), at=0)
    h.run(0, 10)
    h.publish(alert(rule="b"), at=20)
    h.run(11, 69)
    assert len(h.sent("nurse://")) == 1
    h.run(70, 71)
    assert len(h.sent("nurse://")) == 2 and "b summary" in h.sent("nurse://")[1][1]


def test_routes_by_label_and_resolved_goes_only_where_firing_went(tmp_path: Path) -> None:
    h = harness(tmp_path)
    rapid = alert(team="rapid-response")
    h.publish(rapid, at=0)
    h.run(0, 10)
    assert len(h.sent("rapid://")) == 1 and h.sent("nurse://") == []
    h.publish(resolved(rapid), at=11)
    h.run(11, 30)
    assert len(h.sent("rapid://")) == 1  # rapid has send_resolved off
    ward = alert(patient="P-0001")
    h.publish(ward, at=31)
    h.run(31, 45)
    h.publish(resolved(ward), at=46)
    h.run(46, 200)
    titles = [t for t, _ in h.sent("nurse://")]
    assert titles == [f"[HIGH] {state}: tachycardia-sustained" for state in ("firing", "resolved")]


def test_silence_suppresses_and_its_expiry_restores(tmp_path: Path) -> None:
    h = harness(tmp_path)
    silence = h.silences.add(["patient_id=P-0042"], T0 + 3600, "in theatre", "dr x", T0)
    h.publish(alert(), at=0)
    h.publish(alert(patient="P-0001"), at=0)
    h.run(0, 100)
    assert [("P-0001" in b) for _, b in h.sent("nurse://")] == [True]
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="silenced") == 1
    assert h.silences.expire(silence.id, T0 + 100)
    h.run(101, 112)
    assert len(h.sent("nurse://")) == 2 and "P-0042" in h.sent("nurse://")[1][1]
    events = [e.event for e in h.audit.query(patient_id="P-0042")]
    assert "notification.silenced" in events and "notification.sent" in events


def test_an_alert_resolving_while_silenced_is_never_notified(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.silences.add(["ward=ICU-A"], T0 + 50, "maintenance", "it", T0)
    a = alert()
    h.publish(a, at=0)
    h.run(0, 20)
    h.publish(resolved(a), at=21)
    h.run(21, 120)
    assert h.sent("nurse://") == []


def test_news2_emergency_inhibits_single_parameter_alerts_of_the_same_patient(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    emergency = alert(rule="news2-emergency")
    h.publish(emergency, at=0)
    h.publish(alert(rule="tachycardia-sustained", onset_s=1), at=1)
    h.publish(alert(rule="systolic-falling", onset_s=1), at=1)
    h.publish(alert(patient="P-0001", rule="systolic-falling"), at=1)  # other patient
    h.run(0, 20)
    bodies = [b for _, b in h.sent("nurse://")]
    assert len(bodies) == 2
    (own,) = [b for b in bodies if "P-0042" in b]
    assert "news2-emergency" in own and "tachycardia" not in own and "systolic" not in own
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="inhibited") == 2
    # the source resolves: the still-firing targets are notified at the next flush
    h.publish(resolved(emergency), at=30)
    h.run(30, 100)
    later = [b for _, b in h.sent("nurse://")[2:] if "tachycardia-sustained" in b]
    assert len(later) == 1 and "systolic-falling" in later[0]


def test_unacknowledged_alert_escalates_tier_by_tier(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a = alert()
    h.publish(a, at=0)
    h.run(0, 129)  # tier 1 at 10 s; escalate_after 2m
    assert len(h.sent("nurse://")) == 1 and not h.targets["charge://"].sent
    h.run(130, 131)
    ((title, body),) = h.sent("charge://")
    assert title.startswith("[HIGH] ESCALATED") and "not acknowledged within 2m" in body
    h.run(132, 309)
    assert not h.sent("rrt://")
    h.run(310, 400)
    assert len(h.sent("rrt://")) == 1 and len(h.sent("charge://")) == 1
    assert h.metric("vitalwatch_escalations_total", receiver="ward") == 2
    assert [e.detail["tier"] for e in h.audit.query(event="alert.escalated")] == [2, 3]
    # each escalation is announced on the alerts topic once, for those who follow it
    announced = [(x.alert_id, x.state, x.labels["escalated_to"], x.delivery_key)
                 for x in h.announced]  # fmt: skip
    assert announced == [
        (a.alert_id, AlertState.ESCALATED, "ward", "escalated:ward#2"),
        (a.alert_id, AlertState.ESCALATED, "ward", "escalated:ward#3"),
    ]
    assert h.announced[0].labels["bed"] == "12" and h.announced[0].summary == a.summary


def test_acknowledgement_stops_escalation(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a = alert()
    h.publish(a, at=0)
    h.run(0, 60)
    assert h.acks.ack(a.alert_id, "nurse j", "cli", T0 + 60)
    h.run(61, 600)
    assert len(h.sent("nurse://")) == 1 and h.sent("charge://") == [] == h.sent("rrt://")


def test_a_resolved_alert_does_not_escalate(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a = alert()
    h.publish(a, at=0)
    h.run(0, 60)
    h.publish(resolved(a), at=61)
    h.run(61, 600)
    assert h.sent("charge://") == []


def test_a_target_that_stays_down_goes_to_fallback_dead_letter_and_next_tier(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    h.target("nurse://").failures = -1
    a = alert()
    h.publish(a, at=0)
    h.run(0, 12)
    ((title, body),) = h.sent("ops://")
    assert title == "[TECHNICAL] vitalwatch: notification to ward failed"
    assert a.alert_id in body  # the undelivered message travels with it
    failed_reason = "notification_failed:recording"
    assert h.deadletters == [(a.alert_id, failed_reason)]
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="failed") == 1
    assert h.metric("vitalwatch_technical_alerts_total", component="notifier") == 1
    # tier 1 unreachable: tier 2 at once, without waiting escalate_after
    assert len(h.sent("charge://")) == 1 and "tier 1 unreachable" in h.sent("charge://")[0][1]
    h.run(13, 100)
    # Tried again once per retry interval (redeliver), never handed to the fallback again.
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="failed") == 1
    assert len(h.sent("ops://")) == 1 and h.deadletters == [(a.alert_id, failed_reason)]
    trail = [(e.event, e.detail.get("attempt")) for e in h.audit.query(alert_id=a.alert_id)]
    assert trail[:4] == [
        ("alert.firing", None), ("notification.attempt_failed", 1),
        ("notification.attempt_failed", 2), ("notification.fallback", None),
    ]  # fmt: skip


def test_restart_resumes_without_resending(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.publish(alert(), at=0)
    h.publish(alert(patient="P-0001"), at=0)
    h.run(0, 12)
    assert len(h.sent("nurse://")) == 2
    h.open()  # a new process on the same state file; replayed messages arrive again
    h.publish(alert(), at=13)
    h.publish(alert(patient="P-0001"), at=13)
    h.publish(alert(patient="P-0003"), at=13)
    h.run(13, 100)
    assert len(h.sent("nurse://")) == 3 and "P-0003" in h.sent("nurse://")[2][1]


def test_low_severity_only_alert_is_sorted_after_high_in_a_group(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.publish(alert(rule="low-one", severity=Severity.LOW), at=0)
    h.publish(alert(rule="high-one", onset_s=1), at=1)
    h.run(0, 12)
    ((title, body),) = h.sent("nurse://")
    assert title.startswith("[HIGH] firing: high-one, low-one")
    assert body.index("high-one") < body.index("low-one")


def test_repeat_interval_reminds_until_acknowledged(tmp_path: Path) -> None:
    h = harness(tmp_path, ROUTING.replace("repeat_interval: 0s", "repeat_interval: 5m"))
    h.target("nurse://")
    a = alert(rule="r")  # not escalated: only the ward's tier 1 matters here
    h.publish(a, at=0)
    h.run(0, 110)
    h.acks.ack(a.alert_id, "n", "cli", T0 + 111)  # stops escalation, not yet tested: repeats
    h.run(111, 309)
    assert len(h.sent("nurse://")) == 1
    h.publish(alert(rule="s", patient="P-2"), at=0)  # another patient, unacknowledged
    h.run(310, 330)
    h.run(331, 331 + 300)
    repeats = [t for t, b in h.sent("nurse://") if "P-2" in b]
    assert len(repeats) == 2 and repeats[1] == "[HIGH] repeat: s"  # first, then one reminder
    assert not any("P-0042" in b for _, b in h.sent("nurse://")[1:])  # acknowledged: no repeat


def test_a_renotification_from_the_rules_is_delivered_once_more(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a = alert()
    h.publish(a, at=0)
    h.run(0, 12)
    h.acks.ack(a.alert_id, "n", "cli", T0 + 12)
    again = replace(a, state=AlertState.RENOTIFIED, repeat=1)
    h.publish(again, at=20)
    h.publish(again, at=21)  # replayed
    h.run(13, 200)
    assert [t for t, _ in h.sent("nurse://")] == [
        "[HIGH] firing: tachycardia-sustained", "[HIGH] renotified: tachycardia-sustained",
    ]  # fmt: skip


def test_a_latching_alert_escalates_after_it_resolves_until_acknowledged(tmp_path: Path) -> None:
    h = harness(tmp_path)
    a = replace(alert(), latching=True)
    h.publish(a, at=0)
    h.run(0, 20)
    h.publish(resolved(a), at=21)
    h.run(21, 140)
    assert len(h.sent("charge://")) == 1  # still escalated although the condition ended
    h.acks.ack(a.alert_id, "charge nurse", "api", T0 + 141)
    h.run(141, 600)
    assert h.sent("rrt://") == []
    assert h.alerts.open_alerts() == []  # acknowledged and resolved: closed


class KilledMidSend(BaseException):
    """Stands in for kill -9 while a receiver holds the message (escapes every handler)."""


def test_a_send_interrupted_by_a_crash_is_resent_once_marked_as_possibly_a_repeat(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    nurse = h.target("nurse://")
    h.publish(alert(), at=0)
    h.publish(alert(patient="P-0001"), at=0)
    nurse.send = lambda title, body: nurse.sent.append((title, body)) or _die()  # type: ignore
    with pytest.raises(KilledMidSend):
        h.run(0, 12)
    del nurse.send  # the receiver's own method again
    h.open()  # restart on the same state file
    h.run(13, 100)
    bodies = [b for _, b in h.sent("nurse://")]
    assert len(bodies) == 3  # the interrupted one twice, the other once
    resent = [b for b in bodies if b.startswith("Possibly a repeat: vitalwatch restarted")]
    assert len(resent) == 1 and resent[0].split("Patient ")[1] == bodies[0].split("Patient ")[1]
    h.open()
    h.run(101, 300)
    assert len(h.sent("nurse://")) == 3
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="resent") == 1


def _die() -> bool:
    raise KilledMidSend


def test_a_group_mixing_firing_and_resolved_sends_one_message_per_state(tmp_path: Path) -> None:
    h = harness(tmp_path)
    first = alert(rule="a")
    h.publish(first, at=0)
    h.run(0, 10)
    h.publish(resolved(first), at=20)
    h.publish(alert(rule="b"), at=21)
    quick = alert(rule="c")
    h.publish(quick, at=22)
    h.publish(resolved(quick), at=23)  # resolved within group_wait: announced by its resolve
    h.run(11, 200)
    titles = [t for t, _ in h.sent("nurse://")]
    assert titles[:2] == ["[HIGH] firing: a", "[HIGH] firing: b"]
    (resolves,) = [body for title, body in h.sent("nurse://")[2:]]
    assert "a summary" in resolves and "c summary" in resolves


def test_an_episode_read_with_its_resolve_in_one_batch_is_still_announced(tmp_path: Path) -> None:
    """After an outage the rules may emit an episode's firing and resolve together; the episode
    happened, so the receiver hears of it (once), even where resolves are not wanted."""
    h = harness(tmp_path)
    episode = alert(team="rapid-response")  # to the 'rapid' receiver, send_resolved false
    h.publish(episode, at=0)
    h.publish(resolved(episode), at=1)
    h.run(0, 200)
    (message,) = h.sent("rapid://")
    assert "resolved" in message[0] and episode.alert_id in message[1]


def test_an_alert_never_resolved_stops_being_tracked_after_the_ttl(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.dispatcher._ttl_s = 3600.0
    a = alert()
    h.publish(a, at=0)
    h.run(0, 130)  # notified, escalated to tier 2
    h.acks.ack(a.alert_id, "n", "cli", T0 + 131)
    h.tick(3599)
    assert h.alerts.open_alerts() != []
    h.tick(3600)
    assert h.alerts.open_alerts() == []
    assert [e.event for e in h.audit.query(event="alert.expired")] == ["alert.expired"]
    assert h.metric("vitalwatch_errors_total", component="notifier", kind="alert_expired") == 1
