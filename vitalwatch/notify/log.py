"""The notification log: which (alert, state, receiver) were delivered. Durable, in SQLite.

Consulted before every send, written right after a successful one, so a replayed alert (Spark
re-running a batch after a crash, the notifier re-reading uncommitted offsets) is not sent to a
receiver twice. A local file was chosen for the first slice: the notifier is one process, and
SQLite commits survive a kill -9.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path


class NotificationLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deliveries ("
            " alert_id TEXT NOT NULL, state TEXT NOT NULL, receiver TEXT NOT NULL,"
            " delivered_at REAL NOT NULL, PRIMARY KEY (alert_id, state, receiver))"
        )

    def delivered(self, alert_id: str, state: str, receiver: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM deliveries WHERE alert_id=? AND state=? AND receiver=?",
                (alert_id, state, receiver),
            ).fetchone()
        return row is not None

    def record(self, alert_id: str, state: str, receiver: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?)",
                (alert_id, state, receiver, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
