"""Per-patient evaluation in event time, with a watermark per patient and signal.

A reading is released to the rules once nothing older of its signal can still be accepted: the
watermark is the newest reading of that signal for that patient minus ``allowed_lateness``, and
the readings at or behind it are fed to the rules in event-time order. With no lateness (the
default) that is every reading of the call it arrives in, sorted: in-order input never waits.
A lateness buys exactness for a feed whose readings arrive out of order across micro-batches:
held that long, out-of-order input within it gives exactly the alerts of in-order input. A
reading behind the watermark is *late*: it is returned to the caller (which dead-letters and
counts it), never silently dropped. One stamped at the watermark itself is not late: in order
it would come after the released readings of that time too.

Only the rules that pair signals (``derived``: a cuff reading with the heart rate at or before
it; ``news2_aggregate``: every parameter's latest reading) wait longer. The signals come on
different topics, in no order relative to each other, so those rules get each signal's readings
through a second hold of ``pairing_wait`` (at least the lateness): the readings as they would be
released with that lateness. A cuff reading is then evaluated once a later heart rate has come
through it, or the heart-rate feed has been quiet for as long, so that its pairing is the one of
history (property-tested); rules that wait for several signals are told which the patient still
waits for after each call (``settle``).

The watermark is kept per patient and signal, not globally: a bedside device whose clock runs
behind must not make every other patient's readings late, and a blood-pressure cuff's clock must
not make the same patient's heart-rate readings late.

Live, time also passes without readings. ``tick`` (called from processing-time timers, at
``next_deadline``) releases the readings still held once nothing has arrived for the hold's
length of wall time (a feed that stops must not keep its last readings, and any alert they
decide, back forever), and gives silence-driven kinds (``no_data``) their turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import PAIRING_WAIT_MS, Reading, Signal
from vitalwatch.rules.kind import PatientContext, RuleKind, RuleState

Held = list[tuple[int, dict[str, float]]]


@dataclass(slots=True)
class SignalBuffer:
    watermark_ms: int | None = None
    # Held readings, in arrival order until the next release sorts them. The first ``released``
    # have gone to the rules of one signal and wait for the pairing watermark (at or behind
    # ``watermark_ms``) to go to the rules that pair signals.
    pending: Held = field(default_factory=list)
    arrived_ms: int | None = None  # processing time of the newest arrival (live only)
    paired_watermark_ms: int | None = None
    released: int = 0


@dataclass(slots=True)
class PatientState:
    """Plain data: ``orjson`` encodes it as it is, and ``from_json_obj`` reads that encoding
    back (the Quix peer in ``bench`` stores it so; the stream keeps columns, ``rules.bucket``)."""

    signals: dict[str, SignalBuffer] = field(default_factory=dict)
    rules: dict[str, RuleState] = field(default_factory=dict)

    @classmethod
    def from_json_obj(cls, obj: dict[str, Any]) -> PatientState:
        return cls(
            signals={
                name: SignalBuffer(
                    b["watermark_ms"],
                    [(t, v) for t, v in b["pending"]],
                    b["arrived_ms"],
                    # Stored before the pairing wait: one watermark, nothing held released.
                    b.get("paired_watermark_ms", b["watermark_ms"]),
                    b.get("released", 0),
                )
                for name, b in obj["signals"].items()
            },
            rules=obj["rules"],
        )


@dataclass
class Evaluation:
    alerts: list[Alert]
    late: list[int]  # indices into the input readings


def _in_order(state: PatientState) -> list[tuple[Signal, SignalBuffer]]:
    """The patient's signal buffers in ``Signal``'s order (the order of release)."""
    return [(s, state.signals[s.value]) for s in Signal if s.value in state.signals]


def _overrides(rule: RuleKind[Any], method: str) -> bool:
    return getattr(type(rule), method) is not getattr(RuleKind, method)


class PatientEvaluator:
    """Runs a rule set over one patient's readings; holds no state of its own."""

    def __init__(
        self,
        rules: Sequence[RuleKind[Any]],
        allowed_lateness_ms: int,
        pairing_wait_ms: int = PAIRING_WAIT_MS,
    ) -> None:
        self.rules = list(rules)
        self.allowed_lateness_ms = allowed_lateness_ms
        self.pairing_wait_ms = max(allowed_lateness_ms, pairing_wait_ms)
        by_signal: dict[Signal, list[RuleKind[Any]]] = {
            s: [r for r in self.rules if s in r.signals] for s in Signal
        }
        # Each signal's rules, in order, each with whether it pairs signals (waits to pair).
        self._by_signal = {
            s: [(r, len(r.signals) > 1) for r in rules] for s, rules in by_signal.items()
        }
        self._pairs = {s: any(p for _, p in rules) for s, rules in self._by_signal.items()}
        # Rules with silence deadlines, or that hold readings back, by signal (few or none).
        self._quiet: dict[Signal, list[RuleKind[Any]]] = {
            s: [r for r in rules if _overrides(r, "quiet_deadline")]
            for s, rules in by_signal.items()
        }
        self._holding: dict[Signal, list[RuleKind[Any]]] = {
            s: [r for r in rules if _overrides(r, "held_until_quiet")]
            for s, rules in by_signal.items()
        }
        self._settling = [r for r in self.rules if _overrides(r, "settle")]

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
            if buffer.watermark_ms is not None and reading.ts_ms < buffer.watermark_ms:
                late.append(index)
                continue
            buffer.pending.append((reading.ts_ms, reading.values))
            buffer.arrived_ms = now_ms
            touched.add(reading.signal)
        alerts: list[Alert] = []
        for signal in (s for s in Signal if s in touched):
            buffer = state.signals[signal.value]
            newest = max(ts for ts, _ in buffer.pending)
            watermark = newest - self.allowed_lateness_ms
            paired = newest - self._pairing_hold(signal, live=now_ms is not None)
            if buffer.watermark_ms is not None:
                watermark = max(watermark, buffer.watermark_ms)
            if buffer.paired_watermark_ms is not None:
                paired = max(paired, buffer.paired_watermark_ms)
            alerts += self._release(state, patient, signal, watermark, paired)
        return Evaluation(alerts=alerts + self._settle(state, patient, frozenset()), late=late)

    def _pairing_hold(self, signal: Signal, live: bool = True) -> int:
        """How long the rules pairing ``signal`` with another wait for it. Over history there
        is no other feed to wait for: a patient's readings come in one call, then ``flush``."""
        if not live or not self._pairs[signal]:
            return self.allowed_lateness_ms
        return self.pairing_wait_ms

    def flush(self, state: PatientState, patient: PatientContext) -> list[Alert]:
        """End of input (a batch over history): release everything still held."""
        alerts: list[Alert] = []
        for signal, buffer in _in_order(state):
            if buffer.pending:
                newest = max(ts for ts, _ in buffer.pending)
                alerts += self._release(state, patient, signal, newest, newest)
        alerts += self._finish(state, patient, frozenset(Signal))
        return alerts + self._settle(state, patient, None)

    def _settle(
        self, state: PatientState, patient: PatientContext, quiet: frozenset[Signal] | None
    ) -> list[Alert]:
        """The rules that settle, told which signals the patient still waits for: those sent
        and not ``quiet`` (None: the end of history, nothing)."""
        if not self._settling:
            return []
        waiting: frozenset[Signal] = frozenset()
        if quiet is not None:
            waiting = frozenset(signal for signal, _ in _in_order(state)) - quiet
        alerts: list[Alert] = []
        for rule in self._settling:
            rule_state = state.rules.get(rule.spec.id, {})
            state.rules[rule.spec.id], fired = rule.settle(rule_state, patient, waiting)
            alerts += fired
        return alerts

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
        the hold's length (the lateness; the pairing wait for the rules that pair signals, which
        then also evaluate what they hold), and run the silence deadlines that have passed."""
        alerts: list[Alert] = []
        quiet: set[Signal] = set()
        for signal, buffer in _in_order(state):
            if buffer.arrived_ms is None:
                continue
            silent_ms = now_ms - buffer.arrived_ms
            watermark, paired = buffer.watermark_ms, buffer.paired_watermark_ms
            newest = max((ts for ts, _ in buffer.pending), default=None)
            if silent_ms >= self.allowed_lateness_ms and newest is not None:
                watermark = newest
            if silent_ms >= self._pairing_hold(signal):
                quiet.add(signal)
                paired = newest if newest is not None else paired
            if newest is not None and watermark is not None and paired is not None:
                alerts += self._release(state, patient, signal, watermark, paired)
            for rule in self._quiet[signal]:
                rule_state = state.rules.get(rule.spec.id, {})
                deadline = rule.quiet_deadline(rule_state, buffer.arrived_ms)
                if deadline is not None and now_ms >= deadline:
                    state.rules[rule.spec.id], fired = rule.on_quiet(rule_state, patient, now_ms)
                    alerts += fired
        alerts += self._finish(state, patient, frozenset(quiet))
        return alerts + self._settle(state, patient, frozenset(quiet))

    def next_deadline(self, state: PatientState, after: int | None = None) -> int | None:
        """The processing time at which ``tick`` has something to do, if any. ``after``: the
        time of a tick just run. A hold that had run out by then is not due again: that tick
        released what it held, and ticking again changes nothing until readings arrive (a
        NEWS2 queue that waits for another signal keeps its quiet feeds "holding" for good,
        which made every later batch tick and store the patient's bucket again). A silence
        deadline still counts: ``on_quiet`` can be due again at once."""
        deadlines: list[int] = []

        def hold(deadline: int) -> None:
            if after is None or deadline > after:
                deadlines.append(deadline)

        for name, buffer in state.signals.items():
            if buffer.arrived_ms is None:
                continue
            signal = Signal(name)
            holding = (
                signal in r.held_until_quiet(state.rules.get(r.spec.id, {}))
                for r in self._holding[signal]
            )
            if len(buffer.pending) > buffer.released:
                hold(buffer.arrived_ms + self.allowed_lateness_ms)
            if buffer.pending or any(holding):
                hold(buffer.arrived_ms + self._pairing_hold(signal))
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
        self,
        state: PatientState,
        patient: PatientContext,
        signal: Signal,
        watermark: int,
        paired_watermark: int,
    ) -> list[Alert]:
        """Feed the held readings to the rules in event-time order: those at or behind
        ``watermark`` not yet released to the rules of one signal, and those at or behind
        ``paired_watermark`` (never ahead of it) to the rules that pair signals."""
        buffer = state.signals[signal.value]
        pending = buffer.pending
        pending.sort(key=lambda item: item[0])  # stable: the released stay first
        rules = self._by_signal[signal]
        alerts: list[Alert] = []
        done = released = 0
        for index, (ts, values) in enumerate(pending):
            if ts > watermark:
                break
            released = index + 1
            single = index >= buffer.released
            pair = ts <= paired_watermark
            if pair:
                done = index + 1
            if not (single or pair):
                continue
            reading = Reading(signal, ts, values)
            for rule, pairs in rules:
                if pair if pairs else single:
                    rule_state = state.rules.get(rule.spec.id, {})
                    state.rules[rule.spec.id], fired = rule.step(rule_state, reading, patient)
                    alerts += fired
        del pending[:done]
        buffer.released = max(released, buffer.released) - done
        buffer.watermark_ms, buffer.paired_watermark_ms = watermark, paired_watermark
        return alerts
