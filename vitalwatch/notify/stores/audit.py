"""The audit trail: every alert state change, delivery attempt, acknowledgement, escalation and
silence, in order, durable, readable with ``vitalwatch audit --patient/--alert/--since``.

Kept in local SQLite (the notifier's state file) rather than a Kafka topic: an entry is
committed in the same file and the same moment as the state it describes (a delivery, an ack),
the CLI can query it by patient, alert and time without a broker or a consumer, and it survives
kill -9 with ``synchronous=FULL``. Hospitals that need it centrally can ship the file or read it
with any SQLite client. It holds patient identifiers, so it lives only under ``state_dir``,
never in logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitalwatch.contracts.alerts import Alert
from vitalwatch.notify.stores.sqlite import Database

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, event TEXT NOT NULL,"
    " alert_id TEXT, patient_id TEXT, rule_id TEXT, receiver TEXT, detail TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_alert ON audit (alert_id)",
    "CREATE INDEX IF NOT EXISTS audit_patient ON audit (patient_id)",
)


@dataclass(frozen=True)
class AuditEntry:
    at: float
    event: str
    alert_id: str | None
    patient_id: str | None
    rule_id: str | None
    receiver: str | None
    detail: dict[str, Any]


class AuditLog:
    def __init__(self, path: Path) -> None:
        self._db = Database(path, SCHEMA)

    def record(
        self,
        event: str,
        at: float,
        alert: Alert | None = None,
        receiver: str | None = None,
        alert_id: str | None = None,
        **detail: Any,
    ) -> None:
        self._db.execute(
            "INSERT INTO audit (at, event, alert_id, patient_id, rule_id, receiver, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                event,
                alert.alert_id if alert else alert_id,
                alert.patient_id if alert else None,
                alert.rule_id if alert else None,
                receiver,
                json.dumps(detail, sort_keys=True, default=str),
            ),
        )

    def query(
        self,
        patient_id: str | None = None,
        alert_id: str | None = None,
        since: float | None = None,
        event: str | None = None,
    ) -> list[AuditEntry]:
        where: list[str] = []
        params: list[Any] = []
        if patient_id is not None:  # acks name the alert only: include the patient's alerts
            where.append(
                "(patient_id=? OR alert_id IN (SELECT alert_id FROM audit WHERE patient_id=?))"
            )
            params += [patient_id, patient_id]
        for column, value in (("alert_id", alert_id), ("event", event)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if since is not None:
            where.append("at>=?")
            params.append(since)
        sql = "SELECT at, event, alert_id, patient_id, rule_id, receiver, detail FROM audit"
        rows = self._db.execute(
            sql + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq", params
        )
        return [
            AuditEntry(float(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows
        ]

    def close(self) -> None:
        self._db.close()
