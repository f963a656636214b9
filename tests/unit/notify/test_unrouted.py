"""Alerts that no receiver can take: matched by no route, or routed to a receiver whose tier
resolved to no targets. Each goes to the fallback receiver as a technical alert, is dead-lettered,
counted, audited and raised as a technical alarm, once per message; never dropped silently."""

from __future__ import annotations

from pathlib import Path

from vitalwatch.contracts.alerts import Severity

from .harness import T0, Harness, alert, resolved

# use_notify_urls with no notify.urls: the tier passes the loader, and resolves to no target.
NO_TARGETS = """
route: {receiver: oncall, group_wait: 0s}
receivers:
  - {name: oncall, tiers: [{use_notify_urls: true}]}
  - {name: it, tiers: [{urls: ["it://"]}]}
fallback: it
"""

ROOT_MATCHERS = """
route: {receiver: oncall, matchers: ["severity=high"], group_wait: 0s}
receivers:
  - {name: oncall, tiers: [{urls: ["oncall://"]}]}
  - {name: it, tiers: [{urls: ["it://"]}]}
fallback: it
"""


def outcomes(h: Harness, alert_id: str) -> list[str]:
    return [e.event for e in h.audit.query(alert_id=alert_id)]


def test_a_receiver_without_targets_hands_the_alert_to_the_fallback(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", NO_TARGETS)
    a = alert()
    h.publish(a, at=0)
    h.run(0, 30)
    ((title, body),) = h.sent("it://")
    assert title == "[TECHNICAL] vitalwatch: alert for receiver oncall not delivered: no targets"
    assert a.alert_id in body and "tachycardia-sustained" in body
    assert h.deadletters == [(a.alert_id, "unrouted:no_targets")]
    assert h.metric("vitalwatch_alerts_unrouted_total", reason="no_targets") == 1
    assert h.metric("vitalwatch_technical_alerts_total", component="notifier") == 1
    assert outcomes(h, a.alert_id) == ["alert.firing", "alert.unrouted", "notification.fallback"]
    h.open()  # a restart: nothing handed over twice
    h.publish(a, at=31)
    h.run(31, 60)
    assert len(h.sent("it://")) == 1 and len(h.deadletters) == 1
    h.publish(resolved(a), at=61)  # the resolve is a message of its own: handed over too
    h.run(61, 70)
    assert len(h.sent("it://")) == 2 and "RESOLVED" in h.sent("it://")[1][1].upper()
    assert h.metric("vitalwatch_alerts_unrouted_total", reason="no_targets") == 2


def test_an_alert_matching_no_route_goes_to_the_fallback(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", ROOT_MATCHERS)
    high, low = alert(), alert(rule="spo2-low", severity=Severity.LOW)
    h.publish(high, at=0)
    h.publish(low, at=0)
    h.run(0, 10)
    assert len(h.sent("oncall://")) == 1 and high.alert_id in h.sent("oncall://")[0][1]
    ((title, body),) = h.sent("it://")
    assert title == "[TECHNICAL] vitalwatch: alert matched no route"
    assert low.alert_id in body
    assert h.deadletters == [(low.alert_id, "unrouted:no_route")]
    assert h.metric("vitalwatch_alerts_unrouted_total", reason="no_route") == 1
    assert outcomes(h, low.alert_id) == ["alert.firing", "alert.unrouted", "notification.fallback"]


def test_without_a_fallback_it_is_still_dead_lettered_counted_and_alarmed(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", NO_TARGETS.replace("fallback: it\n", ""))
    a = alert()
    h.publish(a, at=0)
    h.run(0, 30)
    assert h.deadletters == [(a.alert_id, "unrouted:no_targets")]
    assert h.metric("vitalwatch_alerts_unrouted_total", reason="no_targets") == 1
    assert h.metric("vitalwatch_technical_alerts_total", component="notifier") == 1
    assert outcomes(h, a.alert_id) == ["alert.firing", "alert.unrouted"]


def test_a_silenced_alert_is_silenced_not_unrouted(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", ROOT_MATCHERS)
    low = alert(severity=Severity.LOW)
    h.silences.add(["patient_id=P-0042"], T0 + 3600, "theatre", "nurse", T0)
    h.publish(low, at=0)
    h.run(0, 10)
    assert h.sent("it://") == [] and h.deadletters == []
    assert outcomes(h, low.alert_id) == ["alert.firing", "notification.silenced"]
