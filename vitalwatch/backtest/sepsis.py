"""Per-rule sepsis figures of a backtest over PhysioNet 2019 (pure Python, no Spark).

A patient has sepsis when any ``SepsisLabel`` is 1; the label time is the first such row's
(``simulate.physionet2019.first_sepsis_label_ms``). The challenge sets the label from 6 hours
before the clinical onset (t_sepsis - 6 h), so an alert "before the label" is more than 6 hours
ahead of the onset itself. Besides a rule's burden (``report.burden``):

- sepsis alerted before label: share of sepsis patients with a firing alert detected strictly
  before their first positive label (an alert at the label's own hour does not count: the
  readings and the label of one hourly row share one time);
- median lead: over those patients, the label time minus the first firing alert's detection,
  in hours;
- non-sepsis alerted: share of the patients without sepsis with any firing alert.

Patients are those with readings in the backtest, as for the 2012 outcomes.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vitalwatch.backtest.report import BurdenFigures, alerted_share, burden

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class SepsisFigures(BurdenFigures):
    sepsis_alerted_before_label_share: float | None
    median_lead_h: float | None
    non_sepsis_alerted_share: float | None


def sepsis_figures(
    alerts: Sequence[Mapping[str, Any]],
    rule_ids: Sequence[str],
    spans_ms: Mapping[str, tuple[int, int]],
    labels_ms: Mapping[str, int | None],
) -> list[SepsisFigures]:
    """``labels_ms``: patient -> the time of the first positive sepsis label, None without."""
    labels = {p: t for p, t in labels_ms.items() if p in spans_ms}
    septic = {p: t is not None for p, t in labels.items()}
    out = []
    for rule, firing in burden(alerts, rule_ids, spans_ms):
        leads = {
            patient: label - min(firing[patient])
            for patient, label in labels.items()
            if label is not None and patient in firing and min(firing[patient]) < label
        }
        out.append(
            SepsisFigures(
                **asdict(rule),
                sepsis_alerted_before_label_share=alerted_share(leads, septic, True),
                median_lead_h=statistics.median(leads.values()) / HOUR_MS if leads else None,
                non_sepsis_alerted_share=alerted_share(firing, septic, False),
            )
        )
    return out


def sepsis_summary(
    spans_ms: Mapping[str, tuple[int, int]], labels_ms: Mapping[str, int | None]
) -> str:
    """How many patients of the backtest have sepsis, and how many of them from their first
    reading on (none of their alerts can come before the label)."""
    septic = [(p, t) for p, t in labels_ms.items() if p in spans_ms and t is not None]
    at_first = sum(1 for p, t in septic if t <= spans_ms[p][0])
    return (
        f"{len(septic)} of {len(spans_ms)} patients with sepsis (SepsisLabel 1 from 6 h before "
        f"onset), {at_first} of them labelled from their first reading"
    )
