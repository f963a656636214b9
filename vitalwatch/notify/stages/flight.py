"""What is being sent right now: handed to a lane and its outcome not yet recorded.

The dedup stage counts a delivery in flight as had (so a tick does not hand it to a lane twice),
and an alert with anything in flight stays open until its outcome is recorded. Lanes finish
deliveries from their own threads, so every access takes the lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

# (alert_id, delivery key, receiver, tier, target key): one row of the notification log.
Row = tuple[str, str, str, int, str]


class InFlight:
    def __init__(self) -> None:
        self._rows: set[Row] = set()
        self._per_receiver: Counter[tuple[str, str]] = Counter()  # (alert, receiver)
        self._lock = threading.Lock()

    def add(self, rows: set[Row]) -> None:
        with self._lock:
            self._rows |= rows
            self._per_receiver.update((r[0], r[2]) for r in rows)

    def done(self, rows: set[Row]) -> None:
        with self._lock:
            self._rows -= rows
            self._per_receiver.subtract((r[0], r[2]) for r in rows)

    def any_of(self, rows: Iterable[Row]) -> bool:
        with self._lock:
            return any(row in self._rows for row in rows)

    def for_receiver(self, alert_id: str, receiver: str) -> bool:
        with self._lock:
            return self._per_receiver[(alert_id, receiver)] > 0

    def for_alert(self, alert_id: str) -> bool:
        with self._lock:
            return any(row[0] == alert_id for row in self._rows)
