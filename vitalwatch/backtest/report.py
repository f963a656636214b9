"""Per-rule figures of a backtest, from the alerts it produced (pure Python, no Spark).

- alerts: firing episodes; per patient-day: over the observed span of every patient;
- patients alerted: share of patients with at least one episode;
- median duration: firing to resolved, over resolved episodes;
- flapping: episodes beyond the first per alerted patient (fire/clear cycles);
- with outcomes (PhysioNet 2012's in-hospital death): share of non-survivors and of survivors
  alerted; PhysioNet 2019's sepsis labels have figures of their own (``backtest.sepsis``).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class BurdenFigures:
    """A rule's alert burden, whatever the outcomes it is related to."""

    rule: str
    alerts: int
    alerts_per_patient_day: float
    patients_alerted_share: float
    median_duration_min: float | None
    flapping: int


@dataclass(frozen=True)
class RuleFigures(BurdenFigures):
    """The burden, and with outcomes (PhysioNet 2012's in-hospital death) the groups alerted."""

    non_survivors_alerted_share: float | None
    survivors_alerted_share: float | None


# Per rule: patient -> the detected times of its firing alerts.
Firing = Mapping[str, Sequence[int]]


def burden(
    alerts: Sequence[Mapping[str, Any]],
    rule_ids: Sequence[str],
    spans_ms: Mapping[str, tuple[int, int]],
) -> list[tuple[BurdenFigures, Firing]]:
    """Each rule's burden and firing alerts; ``spans_ms``: patient -> (first, last) reading."""
    patient_days = max(sum(last - first for first, last in spans_ms.values()) / DAY_MS, 1e-9)
    firing: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    resolved: dict[tuple[str, str, int], int] = {}  # per episode: its duration
    for alert in alerts:
        if alert["state"] == "firing":
            firing[alert["rule_id"]][alert["patient_id"]].append(alert["detected_ms"])
        elif alert["state"] == "resolved":
            episode = (alert["rule_id"], alert["patient_id"], alert["onset_ms"])
            resolved[episode] = alert["detected_ms"] - alert["onset_ms"]
    out: list[tuple[BurdenFigures, Firing]] = []
    patients = len(spans_ms) or 1
    for rule in rule_ids:
        per_patient = firing.get(rule, {})
        episodes = sum(len(v) for v in per_patient.values())
        durations = [ms for (r, _, _), ms in resolved.items() if r == rule]
        rule_burden = BurdenFigures(
            rule=rule,
            alerts=episodes,
            alerts_per_patient_day=episodes / patient_days,
            patients_alerted_share=len(per_patient) / patients,
            median_duration_min=statistics.median(durations) / 60_000 if durations else None,
            flapping=sum(len(v) - 1 for v in per_patient.values()),
        )
        out.append((rule_burden, per_patient))
    return out


def figures(
    alerts: Sequence[Mapping[str, Any]],
    rule_ids: Sequence[str],
    spans_ms: Mapping[str, tuple[int, int]],
    died: Mapping[str, bool] | None = None,
) -> list[RuleFigures]:
    """``alerts``: alert messages; ``spans_ms``: patient -> (first, last) reading time."""
    if died is not None:  # outcomes of the patients in this backtest only
        died = {p: d for p, d in died.items() if p in spans_ms}
    return [
        RuleFigures(
            **asdict(rule),
            non_survivors_alerted_share=alerted_share(per_patient, died, True),
            survivors_alerted_share=alerted_share(per_patient, died, False),
        )
        for rule, per_patient in burden(alerts, rule_ids, spans_ms)
    ]


def alerted_share(
    alerted: Collection[str], outcome_of: Mapping[str, bool] | None, outcome: bool
) -> float | None:
    """The share of the patients with ``outcome`` who are in ``alerted``."""
    if not outcome_of:
        return None
    group = [p for p, o in outcome_of.items() if o is outcome]
    return sum(1 for p in group if p in alerted) / len(group) if group else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def columns(rows: Sequence[BurdenFigures]) -> list[str]:
    """The rows' column names: those of their figures' class (rules' and outcomes' figures)."""
    return list((type(rows[0]) if rows else RuleFigures).__dataclass_fields__)


def as_table(rows: Sequence[BurdenFigures], title: str = "") -> str:
    header = columns(rows)
    body = [[_cell(v) for v in asdict(r).values()] for r in rows]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def as_csv(rows: Sequence[BurdenFigures]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def as_json(rows: Sequence[BurdenFigures]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)
