"""The columnar engine gives exactly the reference evaluator's alerts, for every built-in kind.

The reference is ``PatientEvaluator``, one patient at a time, driven as the stream processor
drove it before the engine: each call's readings per patient (``process``), then each patient
whose deadline has passed ticked (``tick``), patients silent for the state's TTL forgotten;
over history ``flush`` at the end. The engine runs the same calls over the whole bucket with
each rule's kernel. Hypothesis generates the rule limits, the readings (both signals, gaps,
out-of-order arrival within the lateness, late ones), the cut into calls, timer calls between
them, roster overrides and a reload that changes the rules' limits (and a count_in_window
rule's ``count``, its state kept); the alerts must be identical, and so must the late readings
(per patient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.bucket import Bucket
from vitalwatch.rules.engine import ColumnarEngine
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kernel import NO_TIME, SIGNAL_INDEX, VALUE_FIELDS, ReferenceKernel
from vitalwatch.rules.kind import PatientContext, RuleKind
from vitalwatch.rules.registry import builtin_kinds

T0 = 1_795_615_200_000
PATIENTS = ("P-1", "P-2", "P-3")

COMMON = {"description": "d", "source": "s", "summary": "{value} {limit} {duration} {bed}"}


def rule_set(limits: dict[str, float]) -> list[RuleKind[Any]]:
    """Every built-in kind, on both signals, limits drawn (so a reload can change them)."""
    specs: list[dict[str, Any]] = [
        {"id": "tachy", "kind": "threshold", "signal": "heart_rate", "above": limits["hr_high"],
         "for": "3s", "max_gap": "6s", "clear_after": "3s", "cooldown": "20s", "renotify": "4s"},
        {"id": "map-low", "kind": "threshold", "signal": "mean_arterial_pressure",
         "below": limits["map_low"], "for": "0s", "cooldown": "0s"},
        {"id": "runs", "kind": "count_in_window", "signal": "heart_rate",
         "above": limits["hr_high"], "count": limits["runs"], "window": "6s", "cooldown": "5s"},
        {"id": "consecutive", "kind": "count_in_window", "signal": "systolic", "below": 95,
         "count": 2, "window": "60s", "consecutive": True, "clear_after": "5s"},
        {"id": "rising", "kind": "trend", "signal": "heart_rate", "change": limits["rise"],
         "window": "8s", "cooldown": "5s", "clear_after": "2s"},
        # A fall the drawn systolic values reach exactly (125 to 101), so the boundary is hit.
        {"id": "falling", "kind": "trend", "signal": "systolic", "change": -24, "window": "30s"},
        {"id": "baseline", "kind": "baseline", "signal": "heart_rate", "change": limits["base"],
         "half_life": "10s", "warm_up": "5s", "cooldown": "5s", "renotify": "7s"},
        {"id": "news2-pulse", "kind": "news2", "parameter": "pulse", "min_score": 2,
         "cooldown": "6s", "renotify": "3s"},
        {"id": "news2-sbp", "kind": "news2", "parameter": "systolic", "cooldown": "0s"},
        {"id": "shock", "kind": "derived", "signal": "shock_index", "above": limits["shock"],
         "freshness": "6s", "for": "0s", "max_gap": "60s", "cooldown": "5s"},
        # Freshnesses the steps often reach exactly.
        {"id": "news2-sum", "kind": "news2_aggregate", "min_score": limits["news2"],
         "freshness": {"pulse": "2s", "spo2": "3s", "systolic": "30s", "temperature": "20s"},
         "for": "2s", "max_gap": "60s", "clear_after": "1s", "cooldown": "3s", "renotify": "5s"},
        {"id": "news2-red", "kind": "news2_aggregate", "measure": "highest", "min_score": 3,
         "spo2_scale": 2, "for": "0s", "cooldown": "0s"},
        {"id": "pulse-pressure", "kind": "derived", "signal": "pulse_pressure", "below": 25,
         "for": "0s", "max_gap": "60s"},
        {"id": "hr-silent", "kind": "no_data", "signal": "heart_rate", "for": "7s"},
        {"id": "bp-silent", "kind": "no_data", "signal": "blood_pressure", "for": "20s"},
    ]  # fmt: skip
    severity = {"severity": "high"}
    return [parse_rule({**COMMON, **severity, **spec}) for spec in specs]


def parse_rule(raw: dict[str, Any]) -> RuleKind[Any]:
    kind = builtin_kinds()[raw["kind"]]
    return kind(kind.spec_model.model_validate(raw))


@dataclass
class Call:
    """A micro-batch's readings of the bucket, or (no readings) a timer at ``now``."""

    now: int
    readings: list[tuple[str, Reading]] = field(default_factory=list)


def contexts(overrides: dict[str, dict[str, float]]) -> dict[str, PatientContext]:
    return {
        p: PatientContext(p, bed=f"bed-{p}", ward="W", overrides=overrides.get(p, {}))
        for p in PATIENTS
    }


class Reference:
    """The per-patient flow the stream processor ran before the engine."""

    def __init__(self, rules: list[RuleKind[Any]], lateness: int, pairing: int, ttl: int) -> None:
        self.evaluator = PatientEvaluator(rules, lateness, pairing)
        self.ttl = ttl
        self.patients: dict[str, tuple[PatientState, PatientContext]] = {}
        self.due: dict[str, int | None] = {}

    def reload(self, rules: list[RuleKind[Any]], lateness: int, pairing: int) -> None:
        self.evaluator = PatientEvaluator(rules, lateness, pairing)

    def call(
        self, call: Call, known: dict[str, PatientContext], live: bool
    ) -> tuple[list[Alert], list[tuple[str, Reading]]]:
        now = call.now if live else None
        alerts: list[Alert] = []
        late: list[tuple[str, Reading]] = []
        by_patient: dict[str, list[Reading]] = {}
        for patient_id, reading in call.readings:
            by_patient.setdefault(patient_id, []).append(reading)
        for patient_id, readings in by_patient.items():
            state = self.patients.get(patient_id, (PatientState(), known[patient_id]))[0]
            self.patients[patient_id] = (state, known[patient_id])
            evaluation = self.evaluator.process(state, known[patient_id], readings, now)
            alerts += evaluation.alerts
            late += [(patient_id, readings[i]) for i in evaluation.late]
            if not live:
                alerts += self.evaluator.flush(state, known[patient_id])
        if live:
            self.due = {pid: self._due(state) for pid, (state, _) in self.patients.items()}
            alerts += self.tick(call.now)
        return alerts, late

    def tick(self, now: int) -> list[Alert]:
        alerts: list[Alert] = []
        for patient_id, (state, context) in list(self.patients.items()):
            due = self.due.get(patient_id)
            if due is None or due > now:
                continue
            alerts += self.evaluator.tick(state, context, now)
            last = self.evaluator.last_arrival(state)
            if last is not None and now - last >= self.ttl:
                del self.patients[patient_id], self.due[patient_id]
            else:
                self.due[patient_id] = self._due(state, after=now)
        return alerts

    def _due(self, state: PatientState, after: int | None = None) -> int | None:
        deadlines = [self.evaluator.next_deadline(state, after)]
        last = self.evaluator.last_arrival(state)
        if last is not None:
            deadlines.append(last + self.ttl)
        return min((d for d in deadlines if d is not None), default=None)


class Engine:
    """The same flow through the columnar engine, one bucket, stored and decoded every call.

    It ticks every slot with a deadline passed by its own count, holds that a tick already
    released included, where the reference (and the stream processor) ticks a patient only at
    deadlines after its last tick: the same alerts show that ticking again does nothing."""

    def __init__(self, engine: ColumnarEngine) -> None:
        self.engine = engine
        self.stored = Bucket().encode()
        self.ticked: int | None = None  # the last tick's time

    def call(
        self, call: Call, known: dict[str, PatientContext], live: bool
    ) -> tuple[list[Alert], list[tuple[str, Reading]]]:
        bucket = Bucket.decode(self.stored)
        engine = self.engine
        ids = list(dict.fromkeys(p for p, _ in call.readings))
        slots_of = dict(zip(ids, bucket.admit(ids, [known[p] for p in ids]).tolist(), strict=True))
        readings = [r for _, r in call.readings]
        slots = np.array([slots_of[p] for p, _ in call.readings], np.int64)
        signals = np.array([SIGNAL_INDEX[r.signal] for r in readings], np.int8)
        ts = np.array([r.ts_ms for r in readings], np.int64)
        values = np.array(
            [[r.values.get(f, np.nan) for f in VALUE_FIELDS] for r in readings], np.float64
        ).reshape(len(readings), len(VALUE_FIELDS))
        alerts, late = engine.process(
            bucket, slots, signals, ts, values, call.now if live else None
        )
        if live:
            alerts += self._tick(bucket, call.now)
        elif len(slots):
            alerts += engine.flush(bucket, np.unique(slots))
        bucket.keep_rules(engine.kernels)
        self.stored = bucket.encode()
        return alerts, [call.readings[i] for i in np.flatnonzero(late)]

    def deadlines(self) -> dict[str, int | None]:
        bucket = Bucket.decode(self.stored)
        due = self.engine.deadlines(bucket, after=self.ticked).tolist()
        return {pid: None if d == NO_TIME else d for pid, d in zip(bucket.ids, due, strict=True)}

    def tick(self, now: int) -> list[Alert]:
        bucket = Bucket.decode(self.stored)
        alerts = self._tick(bucket, now)
        self.stored = bucket.encode()
        return alerts

    def _tick(self, bucket: Bucket, now: int) -> list[Alert]:
        self.ticked = now
        due = self.engine.deadlines(bucket)
        slots = np.flatnonzero((due != NO_TIME) & (due <= now))
        if not len(slots):
            return []
        alerts = self.engine.tick(bucket, slots, now)
        gone = self.engine.expired(bucket, slots, now)
        if len(gone):
            bucket.drop(gone)
        return alerts


def alert_keys(alerts: list[Alert]) -> list[tuple[Any, ...]]:
    """Alerts comparable across engines: each rule's alerts per patient in their order."""
    keyed = [
        (a.patient_id, a.rule_id, n, a.alert_id, a.state.value, a.onset_ms, a.detected_ms,
         a.repeat, a.summary, tuple(sorted(a.values.items())), tuple(sorted(a.labels.items())))
        for n, a in enumerate(alerts)
    ]  # fmt: skip
    ordered = sorted(keyed, key=lambda k: (k[0], k[1], k[2]))
    return [k[:2] + k[3:] for k in ordered]


# Values at NEWS2 band edges (SpO2 on scale 1 and 2, on air, oxygen or not known).
_news2_observations = st.one_of(
    st.tuples(
        st.just(Signal.SPO2),
        st.fixed_dictionaries(
            {"spo2": st.sampled_from([83.0, 88.0, 91.5, 93.0, 96.0, 97.0])},
            optional={"on_oxygen": st.sampled_from([0.0, 1.0])},
        ),
    ),
    st.tuples(st.just(Signal.RESPIRATION), st.fixed_dictionaries(
        {"rate": st.sampled_from([8.0, 11.5, 16.0, 21.0, 25.0])})),
    st.tuples(st.just(Signal.TEMPERATURE), st.fixed_dictionaries(
        {"celsius": st.sampled_from([35.0, 36.05, 37.0, 38.1, 39.1])})),
    st.tuples(st.just(Signal.CONSCIOUSNESS), st.fixed_dictionaries(
        {"acvpu": st.sampled_from([0.0, 0.0, 2.0, 4.0])})),
)  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    lateness = draw(st.sampled_from([0, 0, 2_000]))
    calls: list[Call] = []
    clock = {p: T0 + draw(st.integers(0, 3)) * 1000 for p in PATIENTS}
    # The cuff's feed may start behind the monitor's, so that cuff readings are paired with
    # heart rates released well ahead of them.
    bp_clock = {p: clock[p] - draw(st.sampled_from([0, 0, 10_000, 20_000])) for p in PATIENTS}
    level = dict.fromkeys(PATIENTS, 80.0)
    now = 1_000
    for _ in range(draw(st.integers(1, 24))):
        now += draw(st.sampled_from([500, 1_000, 1_000, 3_000, 9_000, 25_000]))
        if draw(st.booleans()) and calls:
            calls.append(Call(now))  # a timer: it fires at the bucket's earliest deadline
            continue
        batch: list[tuple[str, Reading]] = []
        for patient in draw(st.lists(st.sampled_from(PATIENTS), min_size=1, max_size=5)):
            if draw(st.integers(0, 3)) == 0:
                bp_clock[patient] += draw(st.sampled_from([1_000, 5_000, 30_000]))
                jitter = -draw(st.integers(0, 3)) * 1000 if lateness else 0
                # 90 and 219.5: NEWS2 band edges (the bound itself, and rounding half up)
                systolic = draw(st.sampled_from([70.0, 88.0, 90.0, 101.0, 125.0, 219.5, 230.0]))
                diastolic = draw(st.sampled_from([40.0, 55.0, 85.0]))
                mean = draw(st.sampled_from([50.0, 70.0, 90.0]))
                values = {"systolic": systolic, "diastolic": diastolic, "mean": mean}
                batch.append(
                    (patient, Reading(Signal.BLOOD_PRESSURE, bp_clock[patient] + jitter, values))
                )
            elif draw(st.integers(0, 2)) == 0:  # a NEWS2 observation, near the monitor's time
                signal, values = draw(_news2_observations)
                at = clock[patient] + draw(st.sampled_from([-3_000, -1_000, 0, 0, 1_000]))
                batch.append((patient, Reading(signal, at, values)))
            else:
                # 0: a second heart rate at the same time (a cuff reading at it waits for a
                # later one).
                clock[patient] += draw(st.sampled_from([0, 1_000, 1_000, 2_000, 6_000]))
                jitter = -draw(st.integers(0, 4)) * 500 if lateness else 0
                if draw(st.integers(0, 20)) == 0:
                    jitter = -9_000  # behind the watermark: late
                if draw(st.integers(0, 3)) == 0:  # a new level, else the patient's last
                    # 110 and 110.5: a NEWS2 band edge, and a limit the reload may set
                    level[patient] = draw(
                        st.sampled_from([35.0, 45.0, 80.0, 95.0, 110.0, 110.5, 135.0, 170.0])
                    )
                bpm = level[patient]
                batch.append(
                    (patient, Reading(Signal.HEART_RATE, clock[patient] + jitter, {"bpm": bpm}))
                )
        calls.append(Call(now, batch))
    overrides = draw(
        st.dictionaries(
            st.sampled_from(PATIENTS),
            st.fixed_dictionaries({}, optional={"tachy.above": st.sampled_from([100.0, 150.0]),
                                               "runs.above": st.sampled_from([100.0, 150.0]),
                                               "rising.change": st.sampled_from([5.0, 40.0]),
                                               "baseline.change": st.sampled_from([-30.0, 15.0]),
                                               "news2-sum.spo2_scale": st.sampled_from([1.0, 2.0]),
                                               "news2-sum.min_score": st.sampled_from([3.0, 6.0])}),
        )
    )  # fmt: skip
    limits = {
        "hr_high": draw(st.sampled_from([110.0, 130.0])),
        "map_low": draw(st.sampled_from([55.0, 65.0])),
        "rise": draw(st.sampled_from([15.0, 30.0])),
        "base": draw(st.sampled_from([15.0, 30.0, -15.0, -30.0])),  # a rise or a fall
        "shock": draw(st.sampled_from([0.9, 1.2])),
        "runs": draw(st.sampled_from([2, 3])),
        "news2": draw(st.sampled_from([4, 5, 7])),
    }
    reload_at = draw(st.integers(0, len(calls)))
    reloaded = {
        **limits,
        "hr_high": draw(st.sampled_from([110.0, 130.0, 140.0])),
        "runs": draw(st.sampled_from([1, 2, 3, 4])),  # a rule's state kept with another count
    }
    return {
        "lateness": lateness,
        "pairing": draw(st.sampled_from([2_000, 4_000])),
        "ttl": draw(st.sampled_from([30_000, 86_400_000])),
        "calls": calls,
        "overrides": overrides,
        "limits": limits,
        "reload_at": reload_at,
        "reloaded": reloaded,
        "live": draw(st.booleans()),
    }


def compare(scenario: dict[str, Any], kernels: bool) -> None:
    lateness, pairing, ttl = scenario["lateness"], scenario["pairing"], scenario["ttl"]
    live = scenario["live"]
    known = contexts(scenario["overrides"])

    rules = rule_set(scenario["limits"])
    reference = Reference(rules, lateness, pairing, ttl)
    columnar = Engine(_engine(rules, lateness, pairing, ttl, kernels))
    expected: list[Alert] = []
    got: list[Alert] = []
    calls = (
        scenario["calls"] if live else [Call(0, [r for c in scenario["calls"] for r in c.readings])]
    )
    for number, call in enumerate(calls):
        if live and number == scenario["reload_at"]:
            rules = rule_set(scenario["reloaded"])
            reference.reload(rules, lateness, pairing)
            columnar.engine = _engine(rules, lateness, pairing, ttl, kernels)
        if call.readings or not live:
            want, want_late = reference.call(call, known, live)
            have, have_late = columnar.call(call, known, live)
            # The engine lists a call's late readings in the call's order, the reference
            # patient by patient: the same per patient.
            assert by_patient(have_late) == by_patient(want_late)
        else:
            pending = [d for d in reference.due.values() if d is not None]
            if not pending:
                continue
            fires = min(pending)  # Spark's timer, registered at the earliest deadline
            want, have = reference.tick(fires), columnar.tick(fires)
        expected += want
        got += have
        if live:
            assert columnar.deadlines() == reference.due
    assert alert_keys(got) == alert_keys(expected)


def by_patient(readings: list[tuple[str, Reading]]) -> list[tuple[str, Reading]]:
    return sorted(readings, key=lambda pair: pair[0])  # stable: each patient's order kept


def _engine(
    rules: list[RuleKind[Any]], lateness: int, pairing: int, ttl: int, kernels: bool
) -> ColumnarEngine:
    if kernels:
        return ColumnarEngine(rules, lateness, pairing, ttl)
    # Every rule on the per-reading fallback: the engine's own release logic, against the
    # reference's.
    fallback = [ReferenceKernel(rule) for rule in rules]
    with mock.patch("vitalwatch.rules.engine.kernels_for", return_value=fallback):
        return ColumnarEngine(rules, lateness, pairing, ttl)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_engine_with_every_rule_on_the_fallback_gives_the_reference_alerts(
    scenario: dict[str, Any],
) -> None:
    compare(scenario, kernels=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_engine_with_the_kernels_gives_the_reference_alerts(scenario: dict[str, Any]) -> None:
    compare(scenario, kernels=True)
