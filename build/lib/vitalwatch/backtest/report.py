"""Per-rule figures of a backtest, from the alerts it produced (pure Python, no Spark).

- alerts: firing episodes; per patient-day: over the observed span of every patient;
- patients alerted: share of patients with at least one episode;
- median duration: firing to resolved, over resolved episodes;
- flapping: episodes beyond the first per alerted patient (fire/clear cycles);
- with outcomes: share of non-survivors and of survivors alerted.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class RuleFigures:
    rule: str
    alerts: int
    alerts_per_patient_day: float
    patients_alerted_share: float
    median_duration_min: float | None
    flapping: int
    non_survivors_alerted_share: float | None
    survivors_alerted_share: float | None


def figures(
    alerts: Sequence[Mapping[str, Any]],
    rule_ids: Sequence[str],
    spans_ms: Mapping[str, tuple[int, int]],
    died: Mapping[str, bool] | None = None,
) -> list[RuleFigures]:
    """``alerts``: alert messages; ``spans_ms``: patient -> (first, last) reading time."""
    patient_days = max(sum(last - first for first, last in spans_ms.values()) / DAY_MS, 1e-9)
    if died is not None:  # outcomes of the patients in this backtest only
        died = {p: d for p, d in died.items() if p in spans_ms}
    firing: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    resolved: dict[tuple[str, str], int] = {}
    for alert in alerts:
        key = (alert["rule_id"], alert["alert_id"])
        if alert["state"] == "firing":
            firing[alert["rule_id"]][alert["patient_id"]].append(alert["onset_ms"])
        elif alert["state"] == "resolved":
            resolved[key] = alert["detected_ms"] - alert["onset_ms"]
    out = []
    patients = len(spans_ms) or 1
    for rule in rule_ids:
        per_patient = firing.get(rule, {})
        episodes = sum(len(v) for v in per_patient.values())
        durations = [ms for (r, _), ms in resolved.items() if r == rule]
        out.append(
            RuleFigures(
                rule=rule,
                alerts=episodes,
                alerts_per_patient_day=episodes / patient_days,
                patients_alerted_share=len(per_patient) / patients,
                median_duration_min=statistics.median(durations) / 60_000 if durations else None,
                flapping=sum(len(v) - 1 for v in per_patient.values()),
                non_survivors_alerted_share=_share(per_patient, died, True),
                survivors_alerted_share=_share(per_patient, died, False),
            )
        )
    return out


def _share(
    alerted: Mapping[str, Any], died: Mapping[str, bool] | None, outcome: bool
) -> float | None:
    if not died:
        return None
    group = [p for p, d in died.items() if d is outcome]
    return sum(1 for p in group if p in alerted) / len(group) if group else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def as_table(rows: Sequence[RuleFigures], title: str = "") -> str:
    header = list(RuleFigures.__dataclass_fields__)
    body = [[_cell(v) for v in asdict(r).values()] for r in rows]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def as_csv(rows: Sequence[RuleFigures]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(RuleFigures.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def as_json(rows: Sequence[RuleFigures]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)
