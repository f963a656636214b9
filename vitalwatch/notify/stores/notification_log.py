"""The notification log: which alert deliveries each receiver has had. Durable, in SQLite.

One row per (alert, delivery key, named receiver, tier, target URL) with its outcome (``sent``
or ``failed``). The dedup stage consults it before every send and the record stage writes it
right after, so a replayed alert (Spark re-running a batch after a crash, the notifier
re-reading uncommitted offsets, a restart) is not sent to a receiver twice. The escalation
stage reads from it which tier an alert has reached and when.

Before each send the log also records the attempt as *in flight*; the outcome replaces it in
one transaction. A kill -9 between a receiver accepting a message and that commit cannot be
told apart from one before the receiver got it, so after a restart the message is sent again
(losing it would be worse) and says so: it is marked as possibly a repeat. That is the one
message per target that can arrive twice, and its reader can see it; everything else is
exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.notify.stores.sqlite import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS notifications ("
    " alert_id TEXT NOT NULL, delivery_key TEXT NOT NULL, receiver TEXT NOT NULL,"
    " tier INTEGER NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, at REAL NOT NULL,"
    " PRIMARY KEY (alert_id, delivery_key, receiver, tier, target))",
    "CREATE TABLE IF NOT EXISTS in_flight ("
    " alert_id TEXT NOT NULL, delivery_key TEXT NOT NULL, receiver TEXT NOT NULL,"
    " tier INTEGER NOT NULL, target TEXT NOT NULL, started_at REAL NOT NULL,"
    " PRIMARY KEY (alert_id, delivery_key, receiver, tier, target))",
    "CREATE INDEX IF NOT EXISTS notifications_failed ON notifications (at)"
    " WHERE outcome = 'failed'",
)


@dataclass(frozen=True)
class Missed:
    """A delivery that failed for good: its target was down through every retry."""

    alert_id: str
    delivery_key: str
    receiver: str
    tier: int
    target: str
    failed_at: float


@dataclass(frozen=True)
class TierReached:
    tier: int
    first_at: float  # when the first message of that tier went out (or failed)
    any_sent: bool


class NotificationLog:
    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)

    def settled(
        self, alert_id: str, delivery_key: str, receiver: str, tier: int, target: str
    ) -> bool:
        """True when the target has this delivery already (sent, or failed for good)."""
        rows = self._db.execute(
            "SELECT 1 FROM notifications WHERE alert_id=? AND delivery_key=? AND receiver=?"
            " AND tier=? AND target=?",
            (alert_id, delivery_key, receiver, tier, target),
        )
        return bool(rows)

    def begin(
        self,
        deliveries: Iterable[tuple[str, str]],
        receiver: str,
        tier: int,
        target: str,
        at: float,
    ) -> float | None:
        """Mark a message as in flight; returns when an earlier attempt at any of it was
        interrupted (the process died before its outcome was recorded), else None."""
        rows = [(a, k, receiver, tier, target) for a, k in deliveries]
        with self._db.transaction() as db:
            earlier = [
                db.execute(
                    "SELECT started_at FROM in_flight WHERE alert_id=? AND delivery_key=?"
                    " AND receiver=? AND tier=? AND target=?",
                    row,
                ).fetchone()
                for row in rows
            ]
            db.executemany(
                "INSERT OR IGNORE INTO in_flight VALUES (?, ?, ?, ?, ?, ?)",
                [(*row, at) for row in rows],
            )
        started = [float(e[0]) for e in earlier if e is not None]
        return min(started) if started else None

    def abandon(
        self, deliveries: Iterable[tuple[str, str]], receiver: str, tier: int, target: str
    ) -> None:
        """Drop the in-flight mark of a message known not to have arrived (stopped while
        retrying after a failed attempt); it is sent afresh after the restart."""
        with self._db.transaction() as db:
            db.executemany(
                "DELETE FROM in_flight WHERE alert_id=? AND delivery_key=? AND receiver=?"
                " AND tier=? AND target=?",
                [(a, k, receiver, tier, target) for a, k in deliveries],
            )

    def record_message(
        self,
        deliveries: Iterable[tuple[str, str]],
        receiver: str,
        tier: int,
        target: str,
        outcome: str,
        at: float,
    ) -> None:
        """Record one message's (alert_id, delivery_key) pairs in one transaction. A delivery
        that failed and is now sent (``redeliver``) is recorded as sent, at its new time."""
        rows = [(a, k, receiver, tier, target) for a, k in deliveries]
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO notifications VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (alert_id, delivery_key, receiver, tier, target) DO UPDATE"
                " SET outcome = excluded.outcome, at = excluded.at"
                " WHERE notifications.outcome = 'failed' AND excluded.outcome = 'sent'",
                [(*row, outcome, at) for row in rows],
            )
            db.executemany(
                "DELETE FROM in_flight WHERE alert_id=? AND delivery_key=? AND receiver=?"
                " AND tier=? AND target=?",
                rows,
            )

    def missed(self, since: float) -> list[Missed]:
        """Deliveries that failed for good at or after ``since``, oldest first."""
        rows = self._db.execute(
            "SELECT alert_id, delivery_key, receiver, tier, target, at FROM notifications"
            " WHERE outcome = 'failed' AND at >= ? ORDER BY at",
            (since,),
        )
        return [Missed(a, k, r, int(t), g, float(at)) for a, k, r, t, g, at in rows]

    def reached(self, alert_id: str, receiver: str) -> TierReached | None:
        """The highest tier of ``receiver`` this alert has been delivered to (or attempted)."""
        rows = self._db.execute(
            "SELECT tier, MIN(at), MAX(outcome = 'sent') FROM notifications"
            " WHERE alert_id=? AND receiver=? GROUP BY tier ORDER BY tier DESC LIMIT 1",
            (alert_id, receiver),
        )
        if not rows:
            return None
        tier, first_at, any_sent = rows[0]
        return TierReached(int(tier), float(first_at), bool(any_sent))

    def close(self) -> None:
        self._db.close()
