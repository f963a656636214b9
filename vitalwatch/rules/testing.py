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

from vitalwatch.contracts.readings import Reading, Signal, mean_arterial_pressure
from vitalwatch.durations import DurationMs
from vitalwatch.errors import RuleFileError
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext, RuleKind
from vitalwatch.yaml_input import YamlModel, load_yaml


class _Strict(YamlModel):
    model_config = ConfigDict(extra="forbid")


class ReadingSpec(_Strict):
    signal: Literal["heart_rate", "blood_pressure"]
    at: DurationMs | None = None
    start: DurationMs = 0
    step: DurationMs = 1000
    series: str | None = None  # heart rate: "140x90 80"; blood pressure: "85/45x3"
    bpm: float | None = None
    systolic: float | None = None
    diastolic: float | None = None

    def readings(self) -> list[Reading]:
        signal = Signal(self.signal)
        if self.series is None:
            return [Reading(signal, self.at if self.at is not None else self.start, self._values())]
        out, t = [], self.start
        for token in self.series.split():
            value, _, count = token.partition("x")
            for _ in range(int(count or 1)):
                out.append(Reading(signal, t, _series_values(signal, value)))
                t += self.step
        return out

    def _values(self) -> dict[str, float]:
        if self.signal == "heart_rate":
            if self.bpm is None:
                raise ValueError("a heart_rate reading needs bpm")
            return {"bpm": self.bpm}
        if self.systolic is None or self.diastolic is None:
            raise ValueError("a blood_pressure reading needs systolic and diastolic")
        return _pressure(self.systolic, self.diastolic)


def _pressure(systolic: float, diastolic: float) -> dict[str, float]:
    mean = mean_arterial_pressure(systolic, diastolic)
    return {"systolic": systolic, "diastolic": diastolic, "mean": mean}


def _series_values(signal: Signal, value: str) -> dict[str, float]:
    if signal is Signal.HEART_RATE:
        return {"bpm": float(value)}
    systolic, _, diastolic = value.partition("/")
    return _pressure(float(systolic), float(diastolic))


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
