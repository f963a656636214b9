"""The redelivery stage: what a receiver missed while it was down, once it is back."""

from __future__ import annotations

from pathlib import Path

from vitalwatch.notify.stages.redeliver import Redelivery
from vitalwatch.notify.stores.notification_log import Missed

from .harness import T0, Harness, alert, resolved

ROUTING = """
route: {receiver: ward, group_by: [patient_id], group_wait: 0s}
receivers:
  - name: ward
    tiers: [{urls: ["nurse://"]}]
  - name: ops
    tiers: [{urls: ["ops://"]}]
fallback: ops
"""


def missed(alert_id: str, target: str, at: float) -> Missed:
    return Missed(alert_id, "firing", "ward", 1, target, at)


def test_one_try_per_unreachable_target_and_everything_once_it_is_reachable() -> None:
    stage = Redelivery(interval_s=16)
    waiting = [missed("b", "nurse", 2), missed("a", "nurse", 1), missed("c", "charge", 3)]
    assert stage.due(100) and not stage.due(115) and stage.due(116)
    assert [m.alert_id for m in stage.pick(waiting)] == ["a", "c"]  # the oldest of each
    stage.reached("nurse", delivered=True)
    assert stage.due(117)  # a target back: what it missed follows at once
    assert [m.alert_id for m in stage.pick(waiting)] == ["a", "b", "c"]
    stage.reached("nurse", delivered=False)
    assert [m.alert_id for m in stage.pick(waiting)] == ["a", "c"]


def down_then_back(tmp_path: Path) -> Harness:
    """P-0042 fires and P-0001 fires and resolves while the nurse's receiver is down."""
    h = Harness(tmp_path / "n.sqlite", ROUTING)
    h.target("nurse://").failures = -1
    still_firing, over = alert(), alert(patient="P-0001")
    h.publish(still_firing, at=0)
    h.publish(over, at=0)
    h.run(0, 5)
    h.publish(resolved(over), at=6)
    h.run(6, 10)
    assert len(h.sent("ops://")) == 2  # both handed to the fallback
    return h


def test_a_receiver_back_gets_the_alert_still_firing_once_and_marked_delayed(
    tmp_path: Path,
) -> None:
    h = down_then_back(tmp_path)
    h.target("nurse://").failures = 0  # back
    h.run(11, 60)
    ((title, body),) = h.sent("nurse://")
    assert title.startswith("[HIGH] firing") and alert().alert_id in body
    assert body.startswith("Delayed: ward could not be reached")
    assert len(h.sent("ops://")) == 2  # the fallback is not told again
    assert h.metric("vitalwatch_notifications_total", receiver="ward", outcome="redelivered") == 1
    events = [e.event for e in h.audit.query(alert_id=alert().alert_id)]
    assert events[-1] == "notification.redelivered"


def test_a_restart_neither_forgets_what_was_missed_nor_sends_it_twice(
    tmp_path: Path,
) -> None:
    h = down_then_back(tmp_path)
    h.open()  # a restart while the receiver is still down: the log remembers what it missed
    h.target("nurse://").failures = 0
    h.run(11, 30)
    assert len(h.sent("nurse://")) == 1
    h.open()
    h.publish(alert(), at=31)  # the alert topic replayed
    h.run(31, 60)
    assert len(h.sent("nurse://")) == 1


def test_an_acknowledged_alert_is_not_redelivered(tmp_path: Path) -> None:
    h = down_then_back(tmp_path)
    h.acks.ack(alert().alert_id, "nurse J", "cli", T0 + 10.5)
    h.target("nurse://").failures = 0
    h.run(11, 60)
    assert h.sent("nurse://") == []
