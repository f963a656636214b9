"""Grouping under the embedded default routing: a high alert leaves in the tick it arrives,
follow-ups of the same patient fold into one message at group_interval, medium and low wait."""

from __future__ import annotations

from pathlib import Path

from vitalwatch.contracts.alerts import Severity
from vitalwatch.notify.config.routing import DEFAULT_ROUTING

from .harness import Harness, alert, resolved

# The embedded default, with the harness's in-memory receiver in place of notify.urls.
ROUTING = DEFAULT_ROUTING.replace("use_notify_urls: true", 'urls: ["nurse://"]')


def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "n.sqlite", ROUTING)


def test_a_high_alert_is_sent_in_the_tick_it_arrives(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.publish(alert(severity=Severity.HIGH), at=0)
    h.tick(0)
    assert [title for title, _ in h.sent("nurse://")] == ["[HIGH] firing: tachycardia-sustained"]


def test_follow_ups_of_the_same_patient_fold_into_one_message_at_group_interval(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    h.publish(alert(rule="tachycardia-sustained"), at=0)
    h.tick(0)
    assert len(h.sent("nurse://")) == 1
    h.publish(alert(rule="map-below-65", onset_s=1), at=20)
    h.publish(alert(rule="systolic-falling", onset_s=2), at=30)
    h.run(20, 59)
    assert len(h.sent("nurse://")) == 1  # within group_interval (1m) of the first message
    h.tick(60)
    (_, follow_up) = h.sent("nurse://")
    assert "2 alerts:" in follow_up[1]
    assert "map-below-65 summary" in follow_up[1] and "systolic-falling summary" in follow_up[1]
    h.run(61, 200)
    assert len(h.sent("nurse://")) == 2


def test_medium_and_low_wait_their_group_wait_and_a_high_one_takes_them_along(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    h.publish(alert(patient="P-0001", rule="map-below-65", severity=Severity.MEDIUM), at=0)
    h.publish(alert(patient="P-0002", rule="hr-low", severity=Severity.LOW), at=0)
    h.publish(alert(patient="P-0003", rule="tachycardia-sustained"), at=0)
    h.run(0, 4)
    assert [("P-0003" in body) for _, body in h.sent("nurse://")] == [True]  # high: at once
    h.tick(5)
    assert "P-0001" in h.sent("nurse://")[1][1]  # medium: after 5 s
    h.run(6, 29)
    assert len(h.sent("nurse://")) == 2
    h.tick(30)
    assert "P-0002" in h.sent("nurse://")[2][1]  # low: after 30 s
    # A medium alert waiting out its group wait goes with a high one of the same patient.
    h.publish(alert(patient="P-0004", rule="map-below-65", severity=Severity.MEDIUM), at=40)
    h.tick(40)
    h.publish(alert(patient="P-0004", rule="tachycardia-sustained"), at=42)
    h.tick(42)
    assert len(h.sent("nurse://")) == 4 and "2 alerts:" in h.sent("nurse://")[3][1]


def test_an_emergency_after_an_urgent_alert_of_the_patient_leaves_at_once(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.publish(alert(rule="news2-urgent", severity=Severity.MEDIUM), at=0)
    h.run(0, 5)
    assert [title for title, _ in h.sent("nurse://")] == ["[MEDIUM] firing: news2-urgent"]
    h.publish(alert(rule="news2-emergency", onset_s=1), at=10)
    h.tick(10)  # within group_interval of the first message, but more severe than it
    assert [title for title, _ in h.sent("nurse://")][1:] == ["[HIGH] firing: news2-emergency"]
    h.publish(resolved(alert(rule="news2-urgent", severity=Severity.MEDIUM)), at=20)
    h.run(20, 69)  # a resolution is a follow-up: folded (if sent at all)
    assert len(h.sent("nurse://")) == 2
