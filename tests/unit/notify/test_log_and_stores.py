"""The durable stores: notification log, alert store, acknowledgements, audit trail."""

from dataclasses import replace
from pathlib import Path

from vitalwatch.contracts.alerts import AlertState
from vitalwatch.notify.stores.acks import AckStore
from vitalwatch.notify.stores.alerts import AlertStore, Source
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.notify.stores.notification_log import NotificationLog

from .harness import alert


def test_log_survives_reopening_and_tells_the_tier_reached(tmp_path: Path) -> None:
    path = tmp_path / "n.sqlite"
    log = NotificationLog(path)
    log.record_message([("a1", "firing"), ("a2", "firing")], "ward", 1, "t1", "sent", 10.0)
    log.record_message([("a1", "firing")], "ward", 1, "t1", "sent", 11.0)  # idempotent
    log.record_message([("a1", "escalated")], "ward", 2, "t2", "failed", 20.0)
    log.close()
    log = NotificationLog(path)
    assert log.settled("a1", "firing", "ward", 1, "t1")
    assert not log.settled("a1", "resolved", "ward", 1, "t1")
    assert not log.settled("a1", "firing", "ward", 1, "t2")
    reached = log.reached("a1", "ward")
    assert reached is not None and (reached.tier, reached.first_at, reached.any_sent) == (
        2, 20.0, False,
    )  # fmt: skip
    assert log.reached("a1", "other") is None


def test_alert_store_moves_states_forward_only(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "n.sqlite")
    a = alert()
    assert store.ingest(a, Source("t", 0, 1), 1.0)
    assert not store.ingest(a, Source("t", 0, 1), 2.0)  # replay
    assert store.ingest(replace(a, state=AlertState.RESOLVED), Source("t", 0, 2), 3.0)
    assert not store.ingest(a, Source("t", 0, 1), 4.0)  # an older message replayed later
    stored = store.get(a.alert_id)
    assert stored is not None and stored.alert.state is AlertState.RESOLVED
    assert stored.source == Source("t", 0, 2)
    store.close_alert(a.alert_id)
    assert store.open_alerts() == []


def test_first_acknowledgement_counts(tmp_path: Path) -> None:
    acks = AckStore(tmp_path / "n.sqlite")
    assert acks.ack("a1", "nurse", "cli", 5.0)
    assert not acks.ack("a1", "other", "api", 6.0)
    ack = acks.get("a1")
    assert ack is not None and (ack.by, ack.via, ack.at) == ("nurse", "cli", 5.0)


def test_audit_queries_by_patient_alert_and_time(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "n.sqlite")
    a, b = alert(), alert(patient="P-0001")
    audit.record("alert.firing", 1.0, alert=a)
    audit.record("alert.firing", 2.0, alert=b)
    audit.record("alert.acknowledged", 3.0, alert_id=a.alert_id, by="nurse")
    audit.record("silence.added", 4.0, silence={"id": "s1"})
    assert [e.event for e in audit.query(patient_id="P-0042")] == [
        "alert.firing", "alert.acknowledged",
    ]  # fmt: skip
    assert [e.at for e in audit.query(alert_id=b.alert_id)] == [2.0]
    assert [e.event for e in audit.query(since=3.0)] == ["alert.acknowledged", "silence.added"]
    assert audit.query(event="silence.added")[0].detail == {"silence": {"id": "s1"}}
