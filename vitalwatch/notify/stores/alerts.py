"""The alert store: every alert the notifier has taken from the alerts topic, durable in SQLite.

An alert message is written here before its Kafka offset is committed, so after that the
message is the notifier's responsibility and survives a kill -9; grouping, silences, inhibition
and escalation then work from this store, never from uncommitted offsets. One row per alert id
holds its latest message; states only move forward (firing → renotified n → resolved), so a
replayed older message never undoes a newer one. An alert is *open* while it can still need a
notification (firing, or resolved with deliveries pending); closed alerts stay for the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.notify.stores.sqlite import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alerts ("
    " alert_id TEXT PRIMARY KEY, rank INTEGER NOT NULL, message TEXT NOT NULL,"
    " received_at REAL NOT NULL, source TEXT NOT NULL, closed INTEGER NOT NULL DEFAULT 0)",
)


@dataclass(frozen=True)
class Source:
    """Where the alert message came from (for the dead-letter headers)."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Source:
        topic, partition, offset = text.rsplit(":", 2)
        return cls(topic, int(partition), int(offset))


@dataclass(frozen=True)
class StoredAlert:
    alert: Alert
    received_at: float
    source: Source


def rank(alert: Alert) -> int:
    """Order of an episode's messages: firing, then each re-notification, then resolved."""
    if alert.state is AlertState.RESOLVED:
        return 1_000_000_000
    return alert.repeat + (1 if alert.state is not AlertState.FIRING else 0)


def _message(alert: Alert) -> str:
    return json.dumps(alert.to_message(emitted_ms=alert.detected_ms), separators=(",", ":"))


class AlertStore:
    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)

    def ingest(self, alert: Alert, source: Source, now: float) -> bool:
        """Store the alert's message; False when it is a replay of this or an older state."""
        with self._db.transaction() as db:
            row = db.execute(
                "SELECT rank FROM alerts WHERE alert_id=?", (alert.alert_id,)
            ).fetchone()
            if row is not None and row[0] >= rank(alert):
                return False
            db.execute(
                "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?, 0)",
                (alert.alert_id, rank(alert), _message(alert), now, str(source)),
            )
        return True

    def open_alerts(self) -> list[StoredAlert]:
        rows = self._db.execute(
            "SELECT message, received_at, source FROM alerts WHERE closed=0 ORDER BY received_at"
        )
        return [_stored(row) for row in rows]

    def get(self, alert_id: str) -> StoredAlert | None:
        rows = self._db.execute(
            "SELECT message, received_at, source FROM alerts WHERE alert_id=?", (alert_id,)
        )
        return _stored(rows[0]) if rows else None

    def close_alert(self, alert_id: str) -> None:
        self._db.execute("UPDATE alerts SET closed=1 WHERE alert_id=?", (alert_id,))

    def close(self) -> None:
        self._db.close()


def _stored(row: tuple[object, ...]) -> StoredAlert:
    message, received_at, source = row
    return StoredAlert(
        Alert.from_message(json.loads(str(message))),
        float(str(received_at)),
        Source.parse(str(source)),
    )
