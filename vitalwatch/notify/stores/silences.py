"""Silences: label matchers, an end time and a reason (e.g. ``patient_id=P-0042`` while the
patient is in theatre). While one is active, matching alerts are not notified; when it ends or
is expired, alerts still firing are notified at the next group flush.

Persisted in SQLite under ``state_dir`` so the CLI (``vitalwatch silence add|list|expire``) and
the HTTP API share them with the running daemon, across restarts.

A silence is bounded in scope and in time: it names at least one label value exactly
(``patient_id=P-0042``, ``ward=ICU-A``; a regex or ``!=`` matcher alone could cover every
patient), and it ends at a finite time at most ``api.max_silence`` after it starts. A stored
silence whose end is not a finite number (written before these checks) mutes nothing.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.contracts.alerts import Alert
from vitalwatch.durations import format_duration_ms
from vitalwatch.notify.config.matchers import Matcher, alert_labels, all_match, parse_matchers
from vitalwatch.notify.stores.sqlite import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS silences ("
    " id TEXT PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL,"
    " ends_at REAL NOT NULL, reason TEXT NOT NULL, created_by TEXT NOT NULL)",
)
# The default longest silence (``api.max_silence``): one shift.
MAX_SILENCE_S = 12 * 3600.0


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    reason: str
    created_by: str

    def active(self, now: float) -> bool:
        return math.isfinite(self.ends_at) and self.starts_at <= now < self.ends_at

    def silences(self, alert: Alert, now: float) -> bool:
        return self.active(now) and all_match(self.matchers, alert_labels(alert))

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "reason": self.reason,
            "created_by": self.created_by,
        }


class SilenceStore:
    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)

    def add(
        self,
        matchers: list[str],
        ends_at: float,
        reason: str,
        created_by: str,
        now: float,
        max_length_s: float = MAX_SILENCE_S,
    ) -> Silence:
        """Raises ValueError for a bad matcher, no exact matcher, no reason, or an end that is
        not a finite time in the future within ``max_length_s``."""
        parsed = parse_matchers(matchers)
        if not any(m.op == "=" and m.value for m in parsed):
            raise ValueError(
                "a silence needs at least one exact matcher such as patient_id=P-0042 or "
                "ward=ICU-A (regex and != matchers only narrow it)"
            )
        if not reason.strip():
            raise ValueError("a silence needs a reason (who asked and why)")
        if not (math.isfinite(ends_at) and math.isfinite(now)):
            raise ValueError("a silence must end at a finite time")
        if ends_at <= now:
            raise ValueError("a silence must end in the future")
        if ends_at - now > max_length_s:
            longest = format_duration_ms(int(max_length_s * 1000))
            raise ValueError(
                f"a silence lasts at most {longest} (api.max_silence); "
                f"this one would last {format_duration_ms(int((ends_at - now) * 1000))}"
            )
        silence = Silence(uuid.uuid4().hex[:12], parsed, now, ends_at, reason, created_by)
        self._db.execute(
            "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?)",
            (silence.id, json.dumps(matchers), now, ends_at, reason, created_by),
        )
        return silence

    def expire(self, silence_id: str, now: float) -> bool:
        """End the silence now; False when there is no such active silence."""
        with self._db.transaction() as db:
            cursor = db.execute(
                "UPDATE silences SET ends_at=? WHERE id=? AND ends_at>?", (now, silence_id, now)
            )
            return cursor.rowcount == 1

    def list(self, now: float, include_expired: bool = False) -> list[Silence]:
        rows = self._db.execute(
            "SELECT * FROM silences" + ("" if include_expired else " WHERE ends_at>?")
            + " ORDER BY starts_at",
            () if include_expired else (now,),
        )  # fmt: skip
        return [
            Silence(r[0], parse_matchers(json.loads(r[1])), float(r[2]), float(r[3]), r[4], r[5])
            for r in rows
        ]

    def close(self) -> None:
        self._db.close()


class Silencer:
    """The silence stage: which active silence, if any, mutes an alert now."""

    def __init__(self, store: SilenceStore) -> None:
        self._store = store
        self._active: list[Silence] = []

    def refresh(self, now: float) -> None:
        """Re-read the active silences (once per dispatcher tick; the CLI may have changed them)."""
        self._active = self._store.list(now)

    def muting(self, alert: Alert, now: float) -> Silence | None:
        return next((s for s in self._active if s.silences(alert, now)), None)
