"""The kernels of news2, baseline, count_in_window and no_data give their kind's ``step()``
alerts and state on the cases the engine's differential test reaches only by chance: NEWS2 band
edges and an onset held back by the cooldown, the baseline's mean bit for bit over a long
history, a reload that changes ``count`` while the bucket grows, no_data's silence timers."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading
from vitalwatch.rules.bucket import Bucket
from vitalwatch.rules.kernel import (
    NO_TIME,
    SIGNAL_INDEX,
    VALUE_FIELDS,
    Kernel,
    KernelState,
    Patients,
    Released,
)
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState
from vitalwatch.rules.kinds.baseline import MEAN, BaselineRule, BaselineSpec
from vitalwatch.rules.kinds.count_in_window import CountInWindowRule, CountInWindowSpec
from vitalwatch.rules.kinds.news2 import News2Rule, News2Spec
from vitalwatch.rules.kinds.no_data import NoDataRule, NoDataSpec

from ..helpers import build, hr, sbp

PATIENTS = [PatientContext(f"P-{n}", bed=f"bed-{n}", ward="W") for n in range(3)]
Batch = list[tuple[int, Reading]]  # (slot, reading) in arrival order


def released(batch: Batch) -> Released:
    """A call's readings as the engine releases them: by slot, each slot's in order."""
    batch = sorted(batch, key=lambda pair: pair[0])  # stable
    return Released(
        np.array([slot for slot, _ in batch], np.int64),
        np.array([SIGNAL_INDEX[r.signal] for _, r in batch], np.int8),
        np.array([r.ts_ms for _, r in batch], np.int64),
        np.array(
            [[r.values.get(f, np.nan) for f in VALUE_FIELDS] for _, r in batch], np.float64
        ).reshape(len(batch), len(VALUE_FIELDS)),
    )


def kernel_of(rule: RuleKind[Any]) -> Kernel:
    kernel = rule.kernel()
    assert kernel is not None
    return kernel


def by_kernel(rule: RuleKind[Any], batches: list[Batch]) -> tuple[list[Alert], KernelState]:
    kernel = kernel_of(rule)
    state = kernel.blank(len(PATIENTS))
    alerts: list[Alert] = []
    for batch in batches:
        alerts += kernel.run(state, Patients(PATIENTS), released(batch))
    return alerts, state


def by_step(
    rule: RuleKind[Any], batches: list[Batch], states: list[RuleState] | None = None
) -> tuple[list[Alert], list[RuleState]]:
    states = states or [{} for _ in PATIENTS]
    alerts: list[Alert] = []
    for batch in batches:
        for slot, reading in sorted(batch, key=lambda pair: pair[0]):
            states[slot], fired = rule.step(states[slot], reading, PATIENTS[slot])
            alerts += fired
    return alerts, states


def onsets(alerts: list[Alert]) -> list[tuple[str, int, int]]:
    return [(a.state.value, a.onset_ms // 1000, a.detected_ms // 1000) for a in alerts]


def news2(**fields: Any) -> News2Rule:
    rule: News2Rule = build(News2Rule, News2Spec, kind="news2", summary="{limit} {value}", **fields)
    return rule


def test_news2_kernel_scores_every_band_edge_and_rounding_as_the_reference() -> None:
    pulse = [40, 40.4, 40.5, 41, 50, 50.5, 51, 90, 90.5, 91, 110, 110.4, 110.5, 130, 130.5, 131]
    systolic = [90, 90.4, 90.5, 91, 100, 100.5, 110, 110.5, 111, 219, 219.4, 219.5, 220]
    for min_score in (1, 2, 3):
        for parameter, values, reading in (("pulse", pulse, hr), ("systolic", systolic, sbp)):
            rule = news2(parameter=parameter, min_score=min_score)
            batch = [(0, reading(n, float(v))) for n, v in enumerate(values)]
            expected, _ = by_step(rule, [batch])
            assert expected  # some edges score, some do not
            assert by_kernel(rule, [batch])[0] == expected


def test_news2_kernel_onset_is_the_run_start_when_the_cooldown_held_the_firing_back() -> None:
    rule = news2(parameter="pulse", cooldown="10s")
    batches = [[(0, hr(0, 135.0)), (0, hr(1, 80.0))], [(0, hr(t, 135.0)) for t in range(2, 13)]]
    expected, _ = by_step(rule, batches)
    assert onsets(expected) == [("firing", 0, 0), ("resolved", 0, 1), ("firing", 2, 10)]
    assert by_kernel(rule, batches)[0] == expected


def test_baseline_kernel_mean_is_the_reference_mean_bit_for_bit() -> None:
    # Irregular gaps and an odd half-life: the decay's power must round as Python's does.
    rule = build(
        BaselineRule, BaselineSpec, kind="baseline", signal="heart_rate", change=25,
        half_life="7777ms", warm_up="3s", renotify="5s",
    )  # fmt: skip
    kernel = kernel_of(rule)
    state = kernel.blank(len(PATIENTS))
    states: list[RuleState] = [{} for _ in PATIENTS]
    draw = random.Random(19)
    clock = [0] * len(PATIENTS)
    for _ in range(2_000):  # ~20,000 readings: LLVM's exp2 for the power differs in ~6
        batch: Batch = []
        for _ in range(draw.randint(1, 20)):
            slot = draw.randrange(len(PATIENTS))
            clock[slot] += draw.randint(1, 20_000)
            batch.append((slot, hr(clock[slot] / 1000, draw.uniform(40, 180))))
        alerts = kernel.run(state, Patients(PATIENTS), released(batch))
        expected, states = by_step(rule, [batch], states)
        assert alerts == expected
        means = [s["kind"]["mean"] if s else np.nan for s in states]
        assert np.array_equal(state["cells"][:, MEAN], means, equal_nan=True)  # exact


def count_rule(count: int) -> CountInWindowRule:
    rule: CountInWindowRule = build(
        CountInWindowRule, CountInWindowSpec, kind="count_in_window", signal="heart_rate",
        above=130, count=count, window="10s",
    )  # fmt: skip
    return rule


def test_count_in_window_kernel_keeps_the_newest_hits_when_a_reload_changes_count() -> None:
    bucket = Bucket()
    bucket.admit(["P-0"], PATIENTS[:1])
    before, after = count_rule(3), count_rule(2)
    first: Batch = [(0, hr(0, 140.0)), (0, hr(1, 90.0)), (0, hr(2, 140.0))]  # 2 hits, not 3
    then: Batch = [(0, hr(3, 90.0)), (1, hr(3, 140.0)), (1, hr(4, 140.0)), (0, hr(4, 140.0))]
    kernel = kernel_of(before)
    alerts = kernel.run(bucket.state_of(kernel), bucket.patients, released(first))
    bucket.admit(["P-1"], PATIENTS[1:2])  # the state grows by a slot after the reload
    kernel = kernel_of(after)
    alerts += kernel.run(bucket.state_of(kernel), bucket.patients, released(then))
    expected, states = by_step(before, [first])
    more, states = by_step(after, [then], states)
    # P-0's two stored hits hold at its next reading once two are enough.
    assert onsets(expected + more) == [("firing", 0, 3), ("firing", 3, 4)]
    assert alerts == expected + more
    assert bucket.state_of(kernel)["list.hit"].tolist() == [2000, 4000, 3000, 4000]


def test_count_in_window_kernel_shrinks_stored_hits_to_a_smaller_count() -> None:
    many = [[(0, hr(t, 140.0)) for t in range(5)]]
    _, state = by_kernel(count_rule(5), many)
    assert state["list.hit"].tolist() == [0, 1000, 2000, 3000, 4000]
    kernel = kernel_of(count_rule(2))
    kernel.run(state, Patients(PATIENTS), released([(0, hr(5, 140.0))]))
    assert state["list.hit"].tolist() == [4000, 5000]


def no_data() -> NoDataRule:
    spec = {
        "id": "silent", "description": "d", "source": "s", "severity": "low", "kind": "no_data",
        "signal": "heart_rate", "for": "5s", "summary": "{value} {limit} {duration}",
        "labels": {"team": "t"},
    }  # fmt: skip
    return NoDataRule(NoDataSpec.model_validate(spec))


def test_no_data_kernel_fires_on_quiet_and_resolves_as_the_reference() -> None:
    rule = no_data()
    kernel = kernel_of(rule)
    state = kernel.blank(len(PATIENTS))
    patients = Patients(PATIENTS)
    states: list[RuleState] = [{} for _ in PATIENTS]
    slots, arrived = np.arange(3), np.array([100, 200, 300], np.int64)

    def deadlines() -> list[int | None]:
        got = kernel.quiet_deadline(state, slots, arrived).tolist()
        times = zip(states, arrived.tolist(), strict=True)
        want = [rule.quiet_deadline(s, arrived_ms) for s, arrived_ms in times]
        assert got == [NO_TIME if w is None else w for w in want]
        return want

    assert deadlines() == [None, None, None]  # monitored from the first reading on
    batch: Batch = [(0, hr(1, 80.0)), (1, hr(1, 80.0)), (0, hr(7, 80.0))]  # P-0: a 6 s gap
    alerts = kernel.run(state, patients, released(batch))
    expected, states = by_step(rule, [batch], states)
    assert onsets(expected) == [("firing", 1, 6), ("resolved", 1, 7)]
    assert alerts == expected
    assert deadlines() == [5_100, 5_200, None]
    alerts = kernel.on_quiet(state, patients, np.array([1]), 9_000)
    states[1], expected = rule.on_quiet(states[1], PATIENTS[1], 9_000)
    assert alerts == expected
    assert expected[0].values == {"silent_s": 8.0} and expected[0].labels["category"]
    assert deadlines() == [5_100, None, None]  # firing: no deadline until a reading
    batch = [(1, hr(20, 80.0)), (1, hr(21, 80.0))]
    alerts = kernel.run(state, patients, released(batch))
    expected, states = by_step(rule, [batch], states)
    assert onsets(expected) == [("resolved", 1, 20)]
    assert alerts == expected
    assert deadlines() == [5_100, 5_200, None]
