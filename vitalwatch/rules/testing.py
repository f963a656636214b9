"""Rule tests written as data, kept beside the rules (``rules/tests/*.yaml``).

In the spirit of ``promtool test rules``: each case gives a patient's readings (single readings
or compact series such as ``"140x90 80x5"``, value x count) and the alerts expected, as event
times relative to the start. Cases run through the same evaluator as the stream and backtests::

    tests:
      - name: sustained tachycardia fires once after 60 s
        readings:
          - {signal: heart_rate, start: 0s, step: 1s, series: "140x90"}
        expect:
          - {rule: tachycardia-sustained, state: firing, onset: 0s, at: 60s}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from vitalwatch.contracts.readings import (
    ACVPU_FIELD,
    ACVPU_LEVELS,
    ON_OXYGEN_FIELD,
    REQUIRED_FIELDS,
    Reading,
    Signal,
    mean_arterial_pressure,
)
from vitalwatch.durations import DurationMs
from vitalwatch.errors import RuleFileError
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext, RuleKind
from vitalwatch.yaml_input import YamlModel, load_yaml


class _Strict(YamlModel):
    model_config = ConfigDict(extra="forbid")


class ReadingSpec(_Strict):
    signal: Literal[
        "heart_rate", "blood_pressure", "spo2", "respiration", "temperature", "consciousness"
    ]
    at: DurationMs | None = None
    start: DurationMs = 0
    step: DurationMs = 1000
    # Values as a series, "value x count" tokens: heart rate "140x90 80"; blood pressure
    # "85/45x3"; SpO2 "93x5", on oxygen "93/o2x5", on air "93/airx5"; respiration "24";
    # temperature "38.4"; consciousness a letter of ACVPU, "Ax3 V".
    series: str | None = None
    bpm: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    spo2: float | None = None
    on_oxygen: bool | None = None
    rate: float | None = None
    celsius: float | None = None
    acvpu: Literal["A", "C", "V", "P", "U"] | None = None

    def readings(self) -> list[Reading]:
        signal = Signal(self.signal)
        if self.series is None:
            return [Reading(signal, self.at if self.at is not None else self.start, self._values())]
        out, t = [], self.start
        for token in self.series.split():
            value, _, count = token.rpartition("x") if "x" in token else (token, "", "")
            for _ in range(int(count or 1)):
                out.append(Reading(signal, t, _series_values(signal, value)))
                t += self.step
        return out

    def _values(self) -> dict[str, float]:
        signal = Signal(self.signal)
        if signal is Signal.BLOOD_PRESSURE:
            if self.systolic is None or self.diastolic is None:
                raise ValueError("a blood_pressure reading needs systolic and diastolic")
            return _pressure(self.systolic, self.diastolic)
        name = REQUIRED_FIELDS[signal][0]
        given = getattr(self, name)
        if given is None:
            raise ValueError(f"a {signal.value} reading needs {name}")
        values = {name: float(ACVPU_LEVELS.index(given)) if name == ACVPU_FIELD else given}
        if self.on_oxygen is not None and signal is Signal.SPO2:
            values[ON_OXYGEN_FIELD] = float(self.on_oxygen)
        return values


def _pressure(systolic: float, diastolic: float) -> dict[str, float]:
    mean = mean_arterial_pressure(systolic, diastolic)
    return {"systolic": systolic, "diastolic": diastolic, "mean": mean}


_OXYGEN_SUFFIX = {"o2": 1.0, "air": 0.0}


def _series_values(signal: Signal, value: str) -> dict[str, float]:
    if signal is Signal.BLOOD_PRESSURE:
        systolic, _, diastolic = value.partition("/")
        return _pressure(float(systolic), float(diastolic))
    if signal is Signal.CONSCIOUSNESS:
        if value not in ACVPU_LEVELS:
            raise ValueError(f"consciousness {value!r} is not one of {', '.join(ACVPU_LEVELS)}")
        return {ACVPU_FIELD: float(ACVPU_LEVELS.index(value))}
    number, _, oxygen = value.partition("/")
    values = {REQUIRED_FIELDS[signal][0]: float(number)}
    if signal is Signal.SPO2 and oxygen:
        if oxygen not in _OXYGEN_SUFFIX:
            raise ValueError(f"SpO2 {value!r}: after '/' comes o2 or air")
        values[ON_OXYGEN_FIELD] = _OXYGEN_SUFFIX[oxygen]
    return values


class ExpectedAlert(_Strict):
    rule: str
    state: Literal["firing", "resolved"]
    onset: DurationMs
    at: DurationMs


class Case(_Strict):
    name: str
    bed: str = "unknown"
    ward: str = "unknown"
    overrides: dict[str, float] = Field(default_factory=dict)
    readings: list[ReadingSpec]
    expect: list[ExpectedAlert]


class TestFile(_Strict):
    tests: list[Case]


@dataclass(frozen=True)
class CaseResult:
    file: Path
    name: str
    expected: list[tuple[str, str, int, int]]
    actual: list[tuple[str, str, int, int]]

    @property
    def passed(self) -> bool:
        return self.expected == self.actual


def run_case(case: Case, rules: Sequence[RuleKind[Any]]) -> list[tuple[str, str, int, int]]:
    readings = [r for spec in case.readings for r in spec.readings()]
    patient = PatientContext("TEST", case.bed, case.ward, case.overrides)
    evaluator = PatientEvaluator(rules, allowed_lateness_ms=0)
    state = PatientState()
    alerts = evaluator.process(state, patient, readings).alerts + evaluator.flush(state, patient)
    return [(a.rule_id, a.state.value, a.onset_ms, a.detected_ms) for a in alerts]


def run_test_files(directory: Path, rules: Sequence[RuleKind[Any]]) -> list[CaseResult]:
    files = [directory] if directory.is_file() else sorted(directory.glob("*.yaml"))
    known = {rule.spec.id for rule in rules}
    results = []
    for path in files:
        try:
            suite = TestFile.model_validate(load_yaml(path.read_text(encoding="utf-8")))
        except (ValidationError, ValueError, OSError) as exc:
            raise RuleFileError(f"{path}: not a valid rule test file: {exc}") from None
        for case in suite.tests:
            unknown = {e.rule for e in case.expect} - known
            if unknown:
                raise RuleFileError(
                    f"{path}: test {case.name!r}: unknown rule(s) {sorted(unknown)}"
                )
            try:
                actual = run_case(case, rules)
            except ValueError as exc:
                raise RuleFileError(f"{path}: test {case.name!r}: {exc}") from None
            expected = [(e.rule, str(e.state), e.onset, e.at) for e in case.expect]
            results.append(CaseResult(path, case.name, expected, actual))
    return results
