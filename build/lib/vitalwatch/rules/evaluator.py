"""Per-patient evaluation in event time, with a watermark per patient and signal.

Readings of one signal may arrive out of order by up to ``allowed_lateness`` behind the newest
reading of that signal for that patient; they are held until the watermark (newest minus
allowed lateness) passes them, then fed to the rules in event-time order, so out-of-order input
gives exactly the alerts of in-order input. A reading at or behind the watermark is *late*: it
is returned to the caller (which dead-letters and counts it), never silently dropped.

The watermark is kept per patient and signal, not globally: a bedside device whose clock runs
behind must not make every other patient's readings late, and a blood-pressure cuff's clock must
not make the same patient's heart-rate readings late.

Live, time also passes without readings. ``tick`` (called from processing-time timers, at
``next_deadline``) releases the readings still held once nothing has arrived for
``allowed_lateness`` of wall time (a feed that stops must not keep its last readings, and any
alert they decide, back forever), and gives silence-driven kinds (``no_data``) their turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState


@dataclass(slots=True)
class SignalBuffer:
    watermark_ms: int | None = None
    pending: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    arrived_ms: int | None = None  # processing time of the newest arrival (live only)


@dataclass(slots=True)
class PatientState:
    """Plain data: ``orjson`` encodes it as it is (the stream stores it once per batch, so its
    encoding is on the hot path); ``from_json_obj`` reads that encoding back."""

    signals: dict[str, SignalBuffer] = field(default_factory=dict)
    rules: dict[str, RuleState] = field(default_factory=dict)

    @classmethod
    def from_json_obj(cls, obj: dict[str, Any]) -> PatientState:
        return cls(
            signals={
                name: SignalBuffer(
                    b["watermark_ms"], [(t, v) for t, v in b["pending"]], b["arrived_ms"]
                )
                for name, b in obj["signals"].items()
            },
            rules=obj["rules"],
        )


@dataclass
class Evaluation:
    alerts: list[Alert]
    late: list[int]  # indices into the input readings


def _overrides(rule: RuleKind[Any], method: str) -> bool:
    return getattr(type(rule), method) is not getattr(RuleKind, method)


class PatientEvaluator:
    """Runs a rule set over one patient's readings; holds no state of its own."""

    def __init__(self, rules: Sequence[RuleKind[Any]], allowed_lateness_ms: int) -> None:
        self.rules = list(rules)
        self.allowed_lateness_ms = allowed_lateness_ms
        self._by_signal: dict[Signal, list[RuleKind[Any]]] = {
            s: [r for r in self.rules if s in r.signals] for s in Signal
        }
        # Rules with silence deadlines, or that hold readings back, by signal (few or none).
        self._quiet: dict[Signal, list[RuleKind[Any]]] = {
            s: [r for r in rules if _overrides(r, "quiet_deadline")]
            for s, rules in self._by_signal.items()
        }
        self._holding: dict[Signal, list[RuleKind[Any]]] = {
            s: [r for r in rules if _overrides(r, "held_until_quiet")]
            for s, rules in self._by_signal.items()
        }

    def process(
        self,
        state: PatientState,
        patient: PatientContext,
        readings: Sequence[Reading],
        now_ms: int | None = None,
    ) -> Evaluation:
        """Buffer new readings, release those behind the watermark in order, run the rules.

        ``now_ms``: the processing time of their arrival, live (None over history)."""
        late: list[int] = []
        touched: set[Signal] = set()
        for index, reading in enumerate(readings):
            buffer = state.signals.setdefault(reading.signal.value, SignalBuffer())
            if buffer.watermark_ms is not None and reading.ts_ms <= buffer.watermark_ms:
                late.append(index)
                continue
            buffer.pending.append((reading.ts_ms, reading.values))
            buffer.arrived_ms = now_ms
            touched.add(reading.signal)
        alerts: list[Alert] = []
        for signal in sorted(touched):
            buffer = state.signals[signal.value]
            newest = max(ts for ts, _ in buffer.pending)
            watermark = newest - self.allowed_lateness_ms
            if buffer.watermark_ms is not None:
                watermark = max(watermark, buffer.watermark_ms)
            alerts += self._release(state, patient, signal, watermark)
        return Evaluation(alerts=alerts, late=late)

    def flush(self, state: PatientState, patient: PatientContext) -> list[Alert]:
        """End of input (a batch over history): release everything still held."""
        alerts: list[Alert] = []
        for name, buffer in sorted(state.signals.items()):
            if buffer.pending:
                newest = max(ts for ts, _ in buffer.pending)
                alerts += self._release(state, patient, Signal(name), newest)
        return alerts + self._finish(state, patient, frozenset(Signal))

    def _finish(
        self, state: PatientState, patient: PatientContext, quiet: frozenset[Signal]
    ) -> list[Alert]:
        alerts: list[Alert] = []
        for rule in self.rules:
            if rule.signals & quiet:
                rule_state = state.rules.get(rule.spec.id, {})
                state.rules[rule.spec.id], fired = rule.finish(rule_state, patient, quiet)
                alerts += fired
        return alerts

    def tick(self, state: PatientState, patient: PatientContext, now_ms: int) -> list[Alert]:
        """Processing time has reached ``now_ms``: release held readings of signals silent for
        the allowed lateness, and run the silence deadlines that have passed."""
        alerts: list[Alert] = []
        quiet: set[Signal] = set()
        for name, buffer in sorted(state.signals.items()):
            if buffer.arrived_ms is None:
                continue
            signal = Signal(name)
            if now_ms - buffer.arrived_ms >= self.allowed_lateness_ms:
                quiet.add(signal)
                if buffer.pending:
                    newest = max(ts for ts, _ in buffer.pending)
                    alerts += self._release(state, patient, signal, newest)
            for rule in self._quiet[signal]:
                rule_state = state.rules.get(rule.spec.id, {})
                deadline = rule.quiet_deadline(rule_state, buffer.arrived_ms)
                if deadline is not None and now_ms >= deadline:
                    state.rules[rule.spec.id], fired = rule.on_quiet(rule_state, patient, now_ms)
                    alerts += fired
        return alerts + self._finish(state, patient, frozenset(quiet))

    def next_deadline(self, state: PatientState) -> int | None:
        """The processing time at which ``tick`` has something to do, if any."""
        deadlines: list[int] = []
        for name, buffer in state.signals.items():
            if buffer.arrived_ms is None:
                continue
            signal = Signal(name)
            holding = (
                signal in r.held_until_quiet(state.rules.get(r.spec.id, {}))
                for r in self._holding[signal]
            )
            if buffer.pending or any(holding):
                deadlines.append(buffer.arrived_ms + self.allowed_lateness_ms)
            for rule in self._quiet[signal]:
                deadline = rule.quiet_deadline(state.rules.get(rule.spec.id, {}), buffer.arrived_ms)
                if deadline is not None:
                    deadlines.append(deadline)
        return min(deadlines, default=None)

    def last_arrival(self, state: PatientState) -> int | None:
        """Processing time of the patient's newest reading of any signal (live only)."""
        arrivals = [b.arrived_ms for b in state.signals.values() if b.arrived_ms is not None]
        return max(arrivals, default=None)

    def _release(
        self, state: PatientState, patient: PatientContext, signal: Signal, watermark: int
    ) -> list[Alert]:
        buffer = state.signals[signal.value]
        buffer.pending.sort(key=lambda item: item[0])
        cut = 0
        while cut < len(buffer.pending) and buffer.pending[cut][0] <= watermark:
            cut += 1
        ready, buffer.pending = buffer.pending[:cut], buffer.pending[cut:]
        buffer.watermark_ms = watermark
        alerts: list[Alert] = []
        for ts, values in ready:
            reading = Reading(signal, ts, values)
            for rule in self._by_signal[signal]:
                rule_state = state.rules.get(rule.spec.id, {})
                state.rules[rule.spec.id], fired = rule.step(rule_state, reading, patient)
                alerts += fired
        return alerts
