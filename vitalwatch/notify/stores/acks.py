"""Acknowledgements: who took responsibility for an alert, when, and through which channel.

Durable in SQLite (the same file as the notification log) so an acknowledgement from the CLI,
the HTTP API or a link in a notification stops escalation in the running daemon, and survives
a restart. The first acknowledgement of an alert counts; later ones are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.notify.stores.sqlite import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS acks ("
    " alert_id TEXT PRIMARY KEY, at REAL NOT NULL, by TEXT NOT NULL, via TEXT NOT NULL)",
)


@dataclass(frozen=True)
class Ack:
    alert_id: str
    at: float
    by: str
    via: str  # cli, api, link


class AckStore:
    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)

    def ack(self, alert_id: str, by: str, via: str, at: float) -> bool:
        """Record the acknowledgement; False when the alert was acknowledged already."""
        with self._db.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO acks VALUES (?, ?, ?, ?)", (alert_id, at, by, via)
            )
            return cursor.rowcount == 1

    def get(self, alert_id: str) -> Ack | None:
        rows = self._db.execute("SELECT * FROM acks WHERE alert_id=?", (alert_id,))
        if not rows:
            return None
        alert, at, by, via = rows[0]
        return Ack(str(alert), float(at), str(by), str(via))

    def acknowledged(self, alert_ids: Iterable[str]) -> set[str]:
        """Which of these alerts are acknowledged (one query per dispatcher tick)."""
        ids = list(alert_ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._db.execute(
                f"SELECT alert_id FROM acks WHERE alert_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update(str(r[0]) for r in rows)
        return found

    def close(self) -> None:
        self._db.close()
