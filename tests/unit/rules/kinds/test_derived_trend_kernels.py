"""The kernels of ``derived`` and ``trend`` against their kinds' reference steps, call by call.

``test_engine_differential`` checks every kernel through the engine, with its holds and ticks;
here a kernel is driven directly, with the readings and ``finish`` calls of a few patients in
any interleaving and times on a coarse grid, so that its boundaries (the freshness, the heart
rates kept, a cuff reading at the time of a heart rate, the window's edge, equal values in a
window) are reached far more often than through the engine. Alerts and held readings must be
the reference's.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.kernel import SIGNAL_INDEX, VALUE_FIELDS, Patients, Released
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.kinds import derived
from vitalwatch.rules.kinds.derived import DerivedRule, DerivedSpec
from vitalwatch.rules.kinds.trend import TrendRule, TrendSpec

from ..helpers import build

PATIENTS = ("P-1", "P-2", "P-3")
HR, BP = Signal.HEART_RATE, Signal.BLOOD_PRESSURE

# One step of a scenario: (slot, what, time step, value). ``what`` is a signal (its next
# reading of that patient, the time step after the previous one, with the value), "end" (the
# call's readings go to the rules) or "hr-quiet"/"bp-quiet" (the same, then ``finish`` with that
# feed quiet for the other patients).
Step = tuple[int, str, int, float]


class Driver:
    """One rule, both ways: the kernel over the bucket's slots, ``step()`` per patient."""

    def __init__(self, rule: RuleKind[Any], overrides: dict[int, dict[str, float]]) -> None:
        kernel = rule.kernel()
        assert kernel is not None
        self.rule, self.kernel = rule, kernel
        self.contexts = [
            PatientContext(p, bed=f"bed-{p}", overrides=overrides.get(slot, {}))
            for slot, p in enumerate(PATIENTS)
        ]
        self.patients = Patients(self.contexts)
        self.state = kernel.blank(len(PATIENTS))
        self.reference: list[RuleState] = [{} for _ in PATIENTS]
        self.got: list[Alert] = []
        self.expected: list[Alert] = []

    def run(self, readings: list[tuple[int, Reading]]) -> None:
        for slot, reading in readings:
            self.reference[slot], fired = self.rule.step(
                self.reference[slot], reading, self.contexts[slot]
            )
            self.expected += fired
        if readings:
            self.got += self.kernel.run(self.state, self.patients, released(readings))
        self.check_held()

    def finish(self, quiet: dict[Signal, list[bool]]) -> None:
        for slot, context in enumerate(self.contexts):
            signals = frozenset(s for s, mask in quiet.items() if mask[slot])
            if signals & self.rule.signals:
                self.reference[slot], fired = self.rule.finish(
                    self.reference[slot], context, signals
                )
                self.expected += fired
        masks = {s: np.array(mask, bool) for s, mask in quiet.items()}
        self.got += self.kernel.finish(self.state, self.patients, np.arange(len(PATIENTS)), masks)
        self.check_held()

    def check_held(self) -> None:
        slots = np.arange(len(PATIENTS))
        for signal in Signal:
            held = self.kernel.held_until_quiet(self.state, slots, signal).tolist()
            assert held == [signal in self.rule.held_until_quiet(s) for s in self.reference]

    def assert_same_alerts(self) -> None:
        assert per_patient(self.got) == per_patient(self.expected)


def released(readings: list[tuple[int, Reading]]) -> Released:
    """A call's readings as the engine releases them: by slot, each slot's in order."""
    ordered = sorted(readings, key=lambda item: item[0])  # stable
    values = [[r.values.get(f, np.nan) for f in VALUE_FIELDS] for _, r in ordered]
    return Released(
        np.array([slot for slot, _ in ordered], np.int64),
        np.array([SIGNAL_INDEX[r.signal] for _, r in ordered], np.int8),
        np.array([r.ts_ms for _, r in ordered], np.int64),
        np.array(values, np.float64).reshape(len(ordered), len(VALUE_FIELDS)),
    )


def per_patient(alerts: list[Alert]) -> dict[str, list[tuple[Any, ...]]]:
    """Each patient's alerts in order (a kernel gives a call's alerts slot by slot)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for a in alerts:
        key = (a.rule_id, a.state.value, a.onset_ms, a.detected_ms, a.repeat, a.summary)
        out.setdefault(a.patient_id, []).append((*key, tuple(sorted(a.values.items()))))
    return out


def drive(
    rules: list[RuleKind[Any]],
    overrides: dict[int, dict[str, float]],
    starts: dict[Signal, list[int]],
    steps: list[Step],
) -> None:
    drivers = [Driver(rule, overrides) for rule in rules]
    clock = {signal: list(times) for signal, times in starts.items()}
    call: list[tuple[int, Reading]] = []
    for slot, what, step, value in steps:
        if what in ("heart_rate", "blood_pressure"):
            signal = Signal(what)
            clock[signal][slot] += step
            fields = {"bpm": value} if signal is HR else {"systolic": value, "diastolic": 60.0}
            call.append((slot, Reading(signal, clock[signal][slot], fields)))
            continue
        for driver in drivers:
            driver.run(call)
        call = []
        if what != "end":
            quiet = {
                HR: [what == "hr-quiet"] * len(PATIENTS),
                BP: [what == "bp-quiet"] * len(PATIENTS),
            }
            quiet[HR][slot] = quiet[BP][slot] = False  # one patient still has both feeds
            for driver in drivers:
                driver.finish(quiet)
    for driver in drivers:
        driver.run(call)
        driver.finish({HR: [True] * len(PATIENTS), BP: [True] * len(PATIENTS)})
        driver.assert_same_alerts()


def scenario_steps(
    kinds: list[str], time_steps: list[int], values: list[float]
) -> st.SearchStrategy[list[Step]]:
    return st.lists(
        st.tuples(
            st.integers(0, len(PATIENTS) - 1),
            st.sampled_from(kinds),
            st.sampled_from(time_steps),
            st.sampled_from(values),
        ),
        min_size=20,
        max_size=60,
    )


def derived_rule(signal: str, **fields: Any) -> DerivedRule:
    rule_id = signal.replace("_", "-")
    spec = {"id": rule_id, "kind": "derived", "signal": signal, "max_gap": "8s", **fields}
    rule: DerivedRule = build(DerivedRule, DerivedSpec, **spec)
    return rule


@settings(max_examples=600, deadline=None)
@given(
    history=st.sampled_from([3_000, 15_000]),
    freshness=st.sampled_from(["2s", "5s"]),
    behind=st.lists(st.sampled_from([0, 3_000, 4_000, 15_000, 16_000]), min_size=3, max_size=3),
    overrides=st.dictionaries(
        st.integers(0, 2), st.fixed_dictionaries({"shock-index.above": st.just(0.8)})
    ),
    steps=scenario_steps(
        ["heart_rate"] * 3 + ["blood_pressure"] * 3 + ["end", "hr-quiet", "bp-quiet"],
        [0, 1_000, 1_000, 2_000, 3_000],
        [0.0, 40.0, 90.0, 100.0, 131.0],
    ),
)
def test_the_derived_kernels_give_the_alerts_of_step_and_finish(
    history: int,
    freshness: str,
    behind: list[int],
    overrides: dict[int, dict[str, float]],
    steps: list[Step],
) -> None:
    """Shock index (exactly at its limit: 100 / 100; none for a systolic of 0) and pulse
    pressure; each patient's cuff feed starting behind its heart rates or not,
    so that cuff readings are paired with heart rates kept back to the edge of the history."""
    rules = [
        derived_rule("shock_index", above=1.0, freshness=freshness, **{"for": "0s"}),
        derived_rule("pulse_pressure", below=35, **{"for": "0s", "clear_after": "2s"}),
    ]
    with mock.patch.object(derived, "_HISTORY_MS", history):
        drive(rules, overrides, {HR: [0, 0, 0], BP: [-b for b in behind]}, steps)


def trend_rule(signal: str, change: float, window: str) -> TrendRule:
    spec = {"id": "trend", "kind": "trend", "signal": signal, "change": change, "window": window}
    rule: TrendRule = build(TrendRule, TrendSpec, clear_after="1s", **spec)
    return rule


@settings(max_examples=400, deadline=None)
@given(
    change=st.sampled_from([-10.0, 10.0]),
    window=st.sampled_from(["2s", "5s"]),
    overrides=st.dictionaries(
        st.integers(0, 2), st.fixed_dictionaries({"trend.change": st.sampled_from([-5.0, 5.0])})
    ),
    steps=scenario_steps(
        ["heart_rate"] * 6 + ["blood_pressure", "end"],
        [0, 1_000, 1_000, 2_000],
        [80.0, 85.0, 90.0, 95.0],
    ),
)
def test_the_trend_kernel_gives_the_alerts_of_step(
    change: float, window: str, overrides: dict[int, dict[str, float]], steps: list[Step]
) -> None:
    """A rise or a fall, per patient (the roster may flip it), with values that tie in the
    window and changes reached exactly; readings of the other signal are not the rule's."""
    starts = {HR: [0, 0, 0], BP: [0, 0, 0]}
    drive([trend_rule("heart_rate", change, window)], overrides, starts, steps)
