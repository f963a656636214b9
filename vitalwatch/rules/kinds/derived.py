"""``derived``: a measure computed across readings, compared with a limit and sustained like
``threshold`` (alarm delay ``for``, ``max_gap``, hysteresis, cooldown, re-notify).

Measures:
    shock_index     heart rate / systolic pressure, at each blood-pressure reading, with the
                    latest heart rate at or before it and at most ``freshness`` older
                    (Allgöwer and Burri 1967; > 1.0 is associated with shock and mortality)
    news2_aggregate the NEWS2 pulse score + systolic score (RCP 2017 chart 1), paired like the
                    shock index; the RCP's aggregate trigger bands are 5-6 (urgent response)
                    and 7 or more (emergency), reached here with the two parameters that
                    vitalwatch's signals carry (0-6) and more as signals are added
    pulse_pressure  systolic - diastolic of one blood-pressure reading (narrow < 25 mmHg:
                    low stroke volume; wide > 100 mmHg)

Mean arterial pressure, when a cuff does not report it, is derived at parsing, so ``threshold``
rules on ``mean_arterial_pressure`` already cover it.

Pairing across streams is deterministic in event time, whatever the batching: a blood-pressure
reading is evaluated once a heart-rate reading *after* it has been released (so every heart rate
at or before it is known; the heart-rate watermark guarantees no earlier one can still come), or
when the heart-rate feed goes quiet (live) or ends (history). Heart rates are kept back to
``_HISTORY_MS`` behind the newest (plus the one before, for the freshness check) and back to
any held blood-pressure reading. Live, this rule gets each signal's readings through the
evaluator's pairing hold (``rules.pairing_wait``, at least the allowed lateness), so a cuff
reading is released within that and two triggers of its arrival, and the pairing is exact while
that stays well under ``_HISTORY_MS``. A cuff reading released further behind the heart-rate
feed (a backlog of minutes read in one micro-batch after an outage) is paired with the oldest
heart rate kept and may be judged stale: a bounded state (~15 readings per patient) chosen over
exactness there.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

from pydantic import Field

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.rules.episode import LimitRule
from vitalwatch.rules.kernel import Kernel
from vitalwatch.rules.kind import PatientContext, RuleState
from vitalwatch.rules.kinds.news2 import news2_score
from vitalwatch.rules.kinds.threshold import ThresholdRule, ThresholdSpec

DerivedMeasure = Literal["shock_index", "news2_aggregate", "pulse_pressure"]


def _paired_value(measure: str, heart_rate: float, systolic: float) -> float | None:
    if measure == "shock_index":
        return heart_rate / systolic if systolic > 0 else None
    return float(news2_score("pulse", heart_rate) + news2_score("systolic", systolic))


# How far behind the newest heart rate a blood-pressure reading may be released and still be
# paired exactly. Live, a cuff reading is released the pairing wait after it arrives.
_HISTORY_MS = 15_000
_HEART_RATE_ONLY = frozenset({Signal.HEART_RATE})


class DerivedSpec(ThresholdSpec):
    kind: Literal["derived"]  # type: ignore[assignment]
    signal: DerivedMeasure  # type: ignore[assignment]
    freshness: DurationMs = Field(default=60_000, gt=0)


class DerivedRule(ThresholdRule):
    """Threshold semantics over a derived measure; the sustained-breach logic is inherited."""

    spec_model = DerivedSpec  # type: ignore[assignment]

    def __init__(self, spec: DerivedSpec) -> None:
        LimitRule.__init__(self, spec)
        self.derived: DerivedSpec = spec

    @property
    def signals(self) -> frozenset[Signal]:
        if self.derived.signal == "pulse_pressure":
            return frozenset({Signal.BLOOD_PRESSURE})
        return frozenset({Signal.BLOOD_PRESSURE, Signal.HEART_RATE})

    def measure_field(self) -> str:
        return self.derived.signal

    def kernel(self) -> Kernel | None:
        """No kernel yet: the engine runs ``step()`` per reading (threshold's kernel would read
        a measure of the reading, not one paired across signals)."""
        return None

    def step(
        self, state: RuleState, reading: Reading, patient: PatientContext
    ) -> tuple[RuleState, list[Alert]]:
        if self.derived.signal == "pulse_pressure":
            systolic, diastolic = reading.values.get("systolic"), reading.values.get("diastolic")
            if systolic is None or diastolic is None:
                return state, []
            return self.advance(state, reading.ts_ms, systolic - diastolic, patient)
        episode = state.get("episode", {})
        heart = _Heart(state)
        queue: list[list[float]] = state.get("queue", [])
        if reading.signal is Signal.HEART_RATE:
            heart.times.append(reading.ts_ms)
            heart.rates.append(reading.values["bpm"])
            if not queue:  # the common case, once a second: nothing waits to be paired
                return heart.state(episode, queue), []
        else:
            queue.append([reading.ts_ms, reading.values["systolic"]])
        newest_heart = heart.times[-1] if heart.times else None
        ready = [q for q in queue if newest_heart is not None and q[0] < newest_heart]
        return self._evaluate(episode, heart, queue, ready, patient)

    def finish(
        self, state: RuleState, patient: PatientContext, quiet: frozenset[Signal]
    ) -> tuple[RuleState, list[Alert]]:
        queue = state.get("queue", [])
        if Signal.HEART_RATE not in quiet or not queue:
            return state, []
        return self._evaluate(state.get("episode", {}), _Heart(state), queue, queue, patient)

    def held_until_quiet(self, state: RuleState) -> frozenset[Signal]:
        """A held blood-pressure reading waits for a later heart rate, or for the heart-rate
        feed to go quiet (``finish``); the cuff's own silence changes nothing."""
        return _HEART_RATE_ONLY if state.get("queue") else frozenset()

    def _evaluate(
        self,
        episode: RuleState,
        heart: _Heart,
        queue: list[list[float]],
        ready: list[list[float]],
        patient: PatientContext,
    ) -> tuple[RuleState, list[Alert]]:
        alerts: list[Alert] = []
        for bp_ts, systolic in ready:
            latest = bisect_right(heart.times, bp_ts) - 1  # the last heart rate at or before it
            if latest < 0 or bp_ts - heart.times[latest] > self.derived.freshness:
                continue
            value = _paired_value(self.derived.signal, heart.rates[latest], systolic)
            if value is not None:
                episode, fired = self.advance(episode, int(bp_ts), value, patient)
                alerts += fired
        queue = queue[len(ready) :]
        return heart.state(episode, queue), alerts


class _Heart:
    """The heart rates a derived rule keeps, in event-time order, as two flat lists (times and
    rates) rather than a list of pairs: the rule state is stored and decoded every micro-batch,
    and one list object per reading made most of a patient's state objects. State from
    before this layout (pairs under ``heart``) is not read: it held at most ``_HISTORY_MS`` of
    heart rates, gathered again within as long after an upgrade."""

    def __init__(self, state: RuleState) -> None:
        self.times: list[int] = state.get("heart_ts", [])
        self.rates: list[float] = state.get("heart_bpm", [])

    def state(self, episode: RuleState, queue: list[list[float]]) -> RuleState:
        """The rule's state, with the heart rates still needed: from the last one at or before
        the horizon (``_HISTORY_MS`` behind the newest, or the oldest held blood-pressure
        reading), so the freshness of a reading at the horizon can still be judged."""
        keep_from = 0
        if self.times:
            horizon = self.times[-1] - _HISTORY_MS
            if queue:
                horizon = min(horizon, int(queue[0][0]))
            keep_from = max(bisect_right(self.times, horizon) - 1, 0)
        return {
            "episode": episode,
            "heart_ts": self.times[keep_from:],
            "heart_bpm": self.rates[keep_from:],
            "queue": queue,
        }
