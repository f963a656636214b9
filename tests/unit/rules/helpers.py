"""Builders shared by the rule tests."""

from __future__ import annotations

from typing import Any

from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.kind import PatientContext
from vitalwatch.rules.kinds.threshold import ThresholdRule, ThresholdSpec

PATIENT = PatientContext("P-0042", bed="12", ward="ICU-A")

COMMON = {
    "description": "d",
    "source": "s",
    "severity": "high",
    "summary": "{value}",
    "cooldown": "0s",
}


def build(rule_cls: Any, spec_cls: Any, **fields: Any) -> Any:
    return rule_cls(spec_cls.model_validate({**COMMON, "id": "r", **fields}))


def tachycardia(**overrides: Any) -> ThresholdRule:
    fields: dict[str, Any] = {
        "id": "tachy",
        "description": "HR above 130 for 60 s",
        "source": "NEWS2",
        "kind": "threshold",
        "signal": "heart_rate",
        "above": 130,
        "for": "60s",
        "max_gap": "10s",
        "clear_after": "0s",
        "cooldown": "10m",
        "severity": "high",
        "summary": "HR {value:.0f} for {duration} bed {bed}",
    }
    fields.update(overrides)
    return ThresholdRule(ThresholdSpec.model_validate(fields))


def hr(ts_s: float, bpm: float) -> Reading:
    return Reading(Signal.HEART_RATE, int(ts_s * 1000), {"bpm": bpm})


def sbp(ts_s: float, value: float) -> Reading:
    return Reading(Signal.BLOOD_PRESSURE, int(ts_s * 1000), {"systolic": value, "diastolic": 50.0})


def run(rule: ThresholdRule, readings: list[Reading]) -> list[tuple[str, int, int]]:
    """Feed readings in order; return (state, onset s, detected s) of each alert."""
    state: dict[str, Any] = {}
    out = []
    for reading in readings:
        state, alerts = rule.step(state, reading, PATIENT)
        out += [(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000) for a in alerts]
    return out
