"""A routing replaced under the dispatcher (SIGHUP): what is pending is not dropped, open alerts
follow the new routing, receivers that left it get nothing more."""

from __future__ import annotations

from pathlib import Path

from .harness import Harness, alert, resolved

ROUTING = """
route: {{receiver: {name}, group_wait: 10s, group_interval: 1m, repeat_interval: 1m}}
receivers:
  - name: {name}
    send_resolved: true
    tiers: [{{urls: ["{url}"]}}]
"""
OLD = ROUTING.format(name="ward", url="nurse://")
NEW = ROUTING.format(name="oncall", url="oncall://")


def patients(messages: list[tuple[str, str]]) -> list[list[str]]:
    return [sorted(p for p in ("P-0042", "P-0007") if p in body) for _, body in messages]


def test_alerts_after_the_switch_go_to_the_new_receiver_with_those_still_open(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "n.sqlite", OLD)
    firing = alert()
    h.publish(firing, at=0)
    h.run(0, 12)
    h.reroute(NEW)
    h.publish(alert(patient="P-0007"), at=20)
    h.run(13, 40)
    assert patients(h.sent("nurse://")) == [["P-0042"]]
    # The receiver now responsible is told of the alert still firing, and of the new one.
    assert sorted(patients(h.sent("oncall://"))) == [["P-0007"], ["P-0042"]]
    h.publish(resolved(firing), at=45)
    h.run(41, 90)  # its group's interval
    assert len(h.sent("nurse://")) == 1  # left the routing: not its resolve either
    assert any("resolved" in title for title, _ in h.sent("oncall://"))


def test_a_pending_group_whose_receiver_left_is_sent_as_grouped_then_forgotten(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path / "n.sqlite", OLD)
    h.publish(alert(), at=0)
    h.run(0, 5)  # grouped for ward, waiting out group_wait
    h.reroute(NEW)
    h.run(6, 200)
    assert patients(h.sent("nurse://")) == [["P-0042"]]  # sent once, no repeats after
    assert len(h.sent("oncall://")) >= 2  # the alert, then the new group's reminders


def test_an_unchanged_route_keeps_its_group_and_timing(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", OLD)
    h.publish(alert(), at=0)
    h.run(0, 5)
    h.reroute(OLD)
    h.run(6, 9)
    assert h.sent("nurse://") == []
    h.run(10, 12)
    assert len(h.sent("nurse://")) == 1  # at group_wait after the first offer, not later
