"""``derived``: shock index paired across the two streams, pulse pressure from one reading."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import PAIRING_WAIT_MS, Reading, Signal
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext, RuleState
from vitalwatch.rules.kinds.derived import DerivedRule, DerivedSpec
from vitalwatch.rules.kinds.threshold import ThresholdRule

from ..helpers import PATIENT, hr, tachycardia


def derived(**overrides: Any) -> DerivedRule:
    fields: dict[str, Any] = {
        "id": "shock-index",
        "description": "shock index above 1.0",
        "source": "Allgöwer and Burri 1967",
        "kind": "derived",
        "signal": "shock_index",
        "above": 1.0,
        "for": "0s",
        "max_gap": "30m",
        "severity": "high",
        "summary": "shock index {value:.2f} - bed {bed}",
    }
    fields.update(overrides)
    return DerivedRule(DerivedSpec.model_validate(fields))


def bp(ts_s: float, systolic: float, diastolic: float = 60) -> Reading:
    return Reading(
        Signal.BLOOD_PRESSURE, int(ts_s * 1000), {"systolic": systolic, "diastolic": diastolic}
    )


def run(rule: DerivedRule, readings: list[Reading], lateness_ms: int = 0) -> list[tuple]:
    evaluator = PatientEvaluator([rule], lateness_ms)
    state = PatientState()
    alerts = evaluator.process(state, PATIENT, readings).alerts + evaluator.flush(state, PATIENT)
    return [
        (a.state.value, a.onset_ms // 1000, round(a.values[rule.spec.signal], 3)) for a in alerts
    ]


def test_shock_index_pairs_each_cuff_reading_with_the_latest_heart_rate_before_it() -> None:
    # HR 100 until 60 s, then 130; systolic 120 at 30 s (SI 0.83), 110 at 90 s (SI 1.18).
    readings = [hr(t, 100 if t < 60 else 130) for t in range(0, 120, 5)]
    assert run(derived(), readings + [bp(30, 120), bp(90, 110)]) == [("firing", 90, 1.182)]


def test_a_heart_rate_older_than_the_freshness_limit_is_not_used() -> None:
    readings = [hr(0, 130), bp(90, 100)]  # the only HR is 90 s old: no shock index
    assert run(derived(freshness="60s"), readings) == []
    assert run(derived(freshness="2m"), readings) == [("firing", 90, 1.3)]


def test_boundary_the_limit_itself_does_not_breach() -> None:
    assert run(derived(), [hr(0, 100), bp(1, 100), hr(2, 100)]) == []  # SI exactly 1.0
    assert run(derived(), [hr(0, 101), bp(1, 100), hr(2, 100)]) == [("firing", 1, 1.01)]


def test_pulse_pressure_from_one_reading() -> None:
    rule = derived(id="narrow-pp", signal="pulse_pressure", above=None, below=25)
    assert rule.signals == frozenset({Signal.BLOOD_PRESSURE})
    assert run(rule, [bp(0, 90, 70), bp(60, 90, 60)]) == [
        ("firing", 0, 20.0),
        ("resolved", 0, 30.0),
    ]


# Heart rates and cuff readings (one per signal and second), the trigger, the arrival delays.
heart_feed = st.lists(st.tuples(st.integers(0, 300), st.integers(40, 180)), max_size=40)
cuff_feed = st.lists(st.tuples(st.integers(0, 300), st.integers(60, 160)), max_size=8)
live_feeds = given(
    heart=heart_feed,
    cuff=cuff_feed,
    trigger_ms=st.integers(100, 5_000),
    delays=st.lists(st.integers(0, 1_999), min_size=48, max_size=48),
)


@settings(max_examples=200, deadline=None)
@live_feeds
def test_live_arrival_in_any_batches_gives_the_alerts_of_history(
    heart: list, cuff: list, trigger_ms: int, delays: list
) -> None:
    """Readings arrive out of order within the lateness, in micro-batches of up to 5 s of
    arrivals, a batch every trigger as in Spark's processing-time mode (with or without input),
    and the patient is ticked only when its deadline has passed, as the stream does: the alerts
    are those of history."""
    rule = derived(**{"for": "10s", "clear_after": "0s", "cooldown": "0s"})
    # One reading per signal and second; history order: by time.
    by_key = {(t, Signal.HEART_RATE): hr(t, v) for t, v in heart}
    by_key |= {(t, Signal.BLOOD_PRESSURE): bp(t, v) for t, v in cuff}
    points = [by_key[key] for key in sorted(by_key)]
    expected = run(rule, points)
    arrival = sorted((r.ts_ms + d, i) for i, (r, d) in enumerate(zip(points, delays, strict=False)))
    assert live_alerts(points, arrival, trigger_ms, PatientEvaluator([rule], 2_000)) == expected


@settings(max_examples=200, deadline=None)
@given(
    heart=heart_feed,
    cuff=cuff_feed,
    trigger_ms=st.integers(100, 5_000),
    common=st.integers(0, 1_500),
    delays=st.lists(st.integers(0, PAIRING_WAIT_MS - 1), min_size=48, max_size=48),
)
def test_with_no_lateness_the_pairing_still_gives_the_alerts_of_history(
    heart: list, cuff: list, trigger_ms: int, common: int, delays: list
) -> None:
    """The default: no lateness hold, so each signal's readings reach the rules of one signal
    as they arrive; Kafka keeps each signal in order, but the two topics in no order relative to
    each other (a cuff reading may come before the heart rate just before it). A rule pairing
    them waits for ``pairing_wait`` (its default) and still gives the alerts of history, while
    the topics arrive less than that apart: a delay common to both, and one of each reading's
    own shorter than the pairing wait."""
    rule = derived(**{"for": "10s", "clear_after": "0s", "cooldown": "0s"})
    by_key = {(t, Signal.HEART_RATE): hr(t, v) for t, v in heart}
    by_key |= {(t, Signal.BLOOD_PRESSURE): bp(t, v) for t, v in cuff}
    points = [by_key[key] for key in sorted(by_key)]
    expected = run(rule, points)
    arrival, last = [], dict.fromkeys(Signal, 0)
    for i, (r, d) in enumerate(zip(points, delays, strict=False)):
        last[r.signal] = max(last[r.signal], r.ts_ms + common + d)  # in order within its signal
        arrival.append((last[r.signal], i))
    evaluator = PatientEvaluator([rule], 0)  # the default lateness and pairing wait
    assert live_alerts(points, sorted(arrival), trigger_ms, evaluator) == expected


def live_alerts(
    points: list[Reading],
    arrival: list[tuple[int, int]],
    trigger_ms: int,
    evaluator: PatientEvaluator,
) -> list[tuple]:
    """Readings arriving as ``arrival`` says, a micro-batch every trigger as in Spark's
    processing-time mode, the patient ticked only when its deadline has passed."""
    state = PatientState()
    alerts = []
    batches: dict[int, list[tuple[int, int]]] = {}
    for arrived, i in arrival:
        batches.setdefault(arrived // trigger_ms, []).append((arrived, i))
    for window in range(max(batches, default=0) + 1):
        now = (window + 1) * trigger_ms
        batch = batches.get(window, [])
        evaluation = evaluator.process(state, PATIENT, [points[i] for _, i in batch], now)
        assert evaluation.late == []
        alerts += evaluation.alerts + due_ticks(evaluator, state, now)
    alerts += due_ticks(evaluator, state, None)  # the feeds have stopped: every deadline comes
    return [(a.state.value, a.onset_ms // 1000, round(a.values["shock_index"], 3)) for a in alerts]


def due_ticks(evaluator: PatientEvaluator, state: PatientState, now: int | None) -> list:
    """Tick at each deadline up to ``now`` (None: all of them), as the stream's timers do; a
    tick must leave no deadline that has passed (the stream would tick again every batch)."""
    alerts = []
    while (deadline := evaluator.next_deadline(state)) is not None:
        if now is not None and deadline > now:
            break
        at = deadline if now is None else now
        alerts += evaluator.tick(state, PATIENT, at)
        after = evaluator.next_deadline(state)
        assert after is None or after > at, f"deadline {after} has passed at {at}"
    return alerts


def test_a_held_cuff_reading_waits_for_the_heart_rate_feed_not_for_its_own() -> None:
    """A cuff reading held for pairing is released by a later heart rate or by the heart-rate
    feed going quiet: the patient's deadline is the heart-rate feed's, never one already past
    (which would tick the patient, and its whole state bucket, every micro-batch)."""
    evaluator = PatientEvaluator([derived()], 2_000)
    state = PatientState()
    evaluator.process(state, PATIENT, [hr(0, 100), bp(1, 90)], now_ms=1_500)
    evaluator.process(state, PATIENT, [hr(2, 100)], now_ms=3_000)
    # The cuff has been silent for the lateness: its reading is released, and held for pairing
    # (the heart rate after it, at 2 s, is not released yet).
    assert due_ticks(evaluator, state, 3_500) == []
    assert derived().held_until_quiet(state.rules["shock-index"]) == {Signal.HEART_RATE}
    assert evaluator.next_deadline(state) == 3_000 + 2_000  # the heart rate's, not 3_500
    assert [a.state.value for a in due_ticks(evaluator, state, None)] == ["firing"]


def test_a_state_stored_before_the_pairing_hold_gives_its_held_readings_to_every_rule() -> None:
    """A checkpoint from before ``pairing_wait`` held readings for all rules at one watermark:
    after the upgrade each held reading reaches the one-signal rules and the pairing rules once."""
    old = {
        "signals": {
            "heart_rate": {
                "watermark_ms": 0,
                "pending": [[1_000, {"bpm": 150.0}]],
                "arrived_ms": 5,
            },
            "blood_pressure": {
                "watermark_ms": 0,
                "pending": [[500, {"systolic": 100.0, "diastolic": 60.0}]],
                "arrived_ms": 5,
            },
        },
        "rules": {"shock-index": {"heart_ts": [0], "heart_bpm": [150.0], "queue": []}},
    }
    state = PatientState.from_json_obj(old)
    evaluator = PatientEvaluator([derived(), Recording(tachycardia().spec)], 0)
    alerts = evaluator.process(state, PATIENT, [hr(2, 150)], now_ms=10).alerts
    alerts += due_ticks(evaluator, state, None)
    assert state.rules["tachy"]["seen"] == [1_000, 2_000]
    assert [(a.state.value, a.onset_ms) for a in alerts] == [("firing", 500)]


class Recording(ThresholdRule):
    """A one-signal rule that only records the times of the readings it is given."""

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        return {"seen": [*state.get("seen", []), reading.ts_ms]}, []
