"""The columnar rule engine: the reference evaluator's semantics over a whole state bucket.

``PatientEvaluator`` (``rules.evaluator``) is the readable definition of how readings are held,
released in event-time order and fed to the rules, one patient at a time. This engine does the
same for all of a bucket's patients at once, with numpy: a call's readings are merged into each
signal's held readings (one table sorted by slot and time), released behind the per-slot
watermarks, and each rule's kernel runs once over what was released to it. It must give exactly
the reference's alerts (``tests/unit/rules/test_engine_differential.py``); the methods mirror
the reference's: ``process``, ``tick``, ``flush`` and the deadlines.

One call's alerts come grouped by rule rather than interleaved reading by reading; each rule's
alerts for a patient keep their order, and nothing downstream depends on the interleaving.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import PAIRING_WAIT_MS, Signal
from vitalwatch.rules.bucket import Bucket, Held
from vitalwatch.rules.kernel import (
    NO_TIME,
    SIGNALS,
    BoolArray,
    FloatArray,
    IntArray,
    Released,
    kernels_for,
)
from vitalwatch.rules.kind import RuleKind

NEVER = np.iinfo(np.int64).max


def _newest(held: Held, slots: IntArray) -> IntArray:
    """Per slot, the newest held time (NO_TIME: none held); ``held`` is sorted by slot, time."""
    ends = np.searchsorted(held.slot, slots, side="right")
    starts = np.searchsorted(held.slot, slots, side="left")
    return np.where(ends > starts, held.ts[np.maximum(ends - 1, 0)] if len(held) else 0, NO_TIME)


class ColumnarEngine:
    """Runs a rule set over state buckets; holds no state of its own."""

    def __init__(
        self,
        rules: Sequence[RuleKind[Any]],
        allowed_lateness_ms: int,
        pairing_wait_ms: int = PAIRING_WAIT_MS,
        state_ttl_ms: int = 86_400_000,
    ) -> None:
        self.kernels = kernels_for(rules)
        self.lateness = allowed_lateness_ms
        self.pairing_wait = max(allowed_lateness_ms, pairing_wait_ms)
        self.state_ttl = state_ttl_ms
        consumes = {s: [k for k in self.kernels if s in k.signals] for s in SIGNALS}
        self._one_signal = {
            s: [k for k in kernels if not k.pairs] for s, kernels in consumes.items()
        }
        self._pairing = {s: [k for k in kernels if k.pairs] for s, kernels in consumes.items()}
        self._quiet = {s: [k for k in ks if k.has_quiet_deadline] for s, ks in consumes.items()}
        self._holding = {s: [k for k in ks if k.holds_readings] for s, ks in consumes.items()}
        self._settling = [k for k in self.kernels if k.settles]

    def _hold(self, signal: Signal, live: bool) -> int:
        """How long the rules pairing ``signal`` wait for it (as the reference's)."""
        if not live or not self._pairing[signal]:
            return self.lateness
        return self.pairing_wait

    def process(
        self,
        bucket: Bucket,
        slots: IntArray,
        signals: npt.NDArray[np.int8],
        ts: IntArray,
        values: FloatArray,
        now_ms: int | None,
    ) -> tuple[list[Alert], BoolArray]:
        """Hold a call's readings (``slots`` from ``Bucket.admit``; ``signals`` index SIGNALS),
        release those behind the watermarks, run the rules. Also returns which readings were
        late (behind their signal's watermark: not evaluated)."""
        late = ts < bucket.watermark[signals, slots]
        alerts: list[Alert] = []
        for index, signal in enumerate(SIGNALS):
            new = ~late & (signals == index)
            if not new.any():
                continue
            held = bucket.held[index]
            merged = Held(
                np.concatenate([held.slot, slots[new]]),
                np.concatenate([held.ts, ts[new]]),
                np.concatenate([held.values, values[new]]),
            )
            bucket.held[index] = merged.take(np.lexsort((merged.ts, merged.slot)))  # stable
            touched = np.unique(slots[new])
            bucket.arrived[index, touched] = NO_TIME if now_ms is None else now_ms
            newest = _newest(bucket.held[index], touched)
            watermark = np.maximum(newest - self.lateness, bucket.watermark[index, touched])
            paired = np.maximum(
                newest - self._hold(signal, now_ms is not None), bucket.paired[index, touched]
            )
            alerts += self._release(bucket, index, touched, watermark, paired)
        if self._settling and len(slots):
            called = np.unique(slots)
            alerts += self._settle(bucket, called, self._sent(bucket, called))
        return alerts, late

    def _sent(self, bucket: Bucket, slots: IntArray) -> BoolArray:
        """Per slot and signal, whether the patient has sent the signal (it has a watermark)."""
        sent: BoolArray = (bucket.watermark[:, slots] != NO_TIME).T
        return sent

    def _settle(self, bucket: Bucket, slots: IntArray, waiting: BoolArray) -> list[Alert]:
        alerts: list[Alert] = []
        for kernel in self._settling:
            alerts += kernel.settle(bucket.state_of(kernel), bucket.patients, slots, waiting)
        return alerts

    def _release(
        self,
        bucket: Bucket,
        index: int,
        slots: IntArray,
        watermark: IntArray,
        paired: IntArray,
    ) -> list[Alert]:
        """Release ``slots``' held readings of one signal: those at or behind ``watermark`` not
        yet given to the one-signal rules, and those at or behind ``paired`` to the rules that
        pair signals (which are then no longer held)."""
        held = bucket.held[index]
        position = np.searchsorted(slots, held.slot)
        chosen = position < len(slots)
        chosen[chosen] = slots[position[chosen]] == held.slot[chosen]
        position = np.minimum(position, max(len(slots) - 1, 0))
        rank = np.arange(len(held)) - np.searchsorted(held.slot, held.slot, side="left")
        behind = chosen & (held.ts <= watermark[position])
        to_pairs = chosen & (held.ts <= paired[position])
        to_one = behind & (rank >= bucket.released[index, held.slot])
        size = len(bucket)
        done = np.bincount(held.slot[to_pairs], minlength=size)[slots]
        given = np.bincount(held.slot[behind], minlength=size)[slots]
        bucket.released[index, slots] = np.maximum(given, bucket.released[index, slots]) - done
        bucket.watermark[index, slots], bucket.paired[index, slots] = watermark, paired
        signal = SIGNALS[index]
        every = Released(held.slot, np.full(len(held), index, np.int8), held.ts, held.values)
        alerts: list[Alert] = []
        for kernels, selection in ((self._one_signal, to_one), (self._pairing, to_pairs)):
            if kernels[signal] and selection.any():
                released = every.take(selection)
                for kernel in kernels[signal]:
                    state = bucket.state_of(kernel)
                    alerts += kernel.run(state, bucket.patients, released)
        bucket.held[index] = held.take(~to_pairs)
        return alerts

    def flush(self, bucket: Bucket, slots: IntArray) -> list[Alert]:
        """End of input (a batch over history) for these slots: release all they hold."""
        alerts: list[Alert] = []
        for index in range(len(SIGNALS)):
            newest = _newest(bucket.held[index], slots)
            some = newest != NO_TIME
            if some.any():
                alerts += self._release(bucket, index, slots[some], newest[some], newest[some])
        every = np.ones(len(slots), bool)
        alerts += self._finish(bucket, slots, {s: every for s in SIGNALS})
        nothing = np.zeros((len(slots), len(SIGNALS)), bool)  # at the end nothing more comes
        return alerts + self._settle(bucket, slots, nothing)

    def _finish(
        self, bucket: Bucket, slots: IntArray, quiet: dict[Signal, BoolArray]
    ) -> list[Alert]:
        alerts: list[Alert] = []
        for kernel in self.kernels:
            concerned = np.zeros(len(slots), bool)
            for signal in kernel.signals:
                concerned |= quiet[signal]
            if concerned.any():
                state = bucket.state_of(kernel)
                masked = {s: mask[concerned] for s, mask in quiet.items()}
                alerts += kernel.finish(state, bucket.patients, slots[concerned], masked)
        return alerts

    def tick(self, bucket: Bucket, slots: IntArray, now_ms: int) -> list[Alert]:
        """Processing time has reached ``now_ms`` for these slots: release held readings of
        signals silent for the hold's length, and run the silence deadlines that have passed."""
        alerts: list[Alert] = []
        quiet: dict[Signal, BoolArray] = {}
        for index, signal in enumerate(SIGNALS):
            arrived = bucket.arrived[index, slots]
            some = arrived != NO_TIME
            if not some.any():  # a signal none of these patients sends: nothing to release
                quiet[signal] = some
                continue
            silent = np.where(some, now_ms - np.where(some, arrived, 0), 0)
            newest = _newest(bucket.held[index], slots)
            holding = newest != NO_TIME
            watermark = np.where(
                some & holding & (silent >= self.lateness), newest, bucket.watermark[index, slots]
            )
            quiet[signal] = some & (silent >= self._hold(signal, live=True))
            paired = np.where(quiet[signal] & holding, newest, bucket.paired[index, slots])
            due = some & holding & (watermark != NO_TIME) & (paired != NO_TIME)
            if due.any():
                alerts += self._release(bucket, index, slots[due], watermark[due], paired[due])
            for kernel in self._quiet[signal]:
                state = bucket.state_of(kernel)
                deadline = kernel.quiet_deadline(state, slots[some], arrived[some])
                passed = (deadline != NO_TIME) & (now_ms >= deadline)
                if passed.any():
                    alerts += kernel.on_quiet(state, bucket.patients, slots[some][passed], now_ms)
        alerts += self._finish(bucket, slots, quiet)
        if self._settling:
            quiet_now = np.stack([quiet[s] for s in SIGNALS], axis=1)
            alerts += self._settle(bucket, slots, self._sent(bucket, slots) & ~quiet_now)
        return alerts

    def deadlines(self, bucket: Bucket, after: int | None = None) -> IntArray:
        """Per slot, the processing time at which ``tick`` has something to do, or the state's
        time to live runs out (NO_TIME: never). ``after``: the time of a tick just run over
        the slots due by then; holds that had run out are not due again (as the reference's
        ``next_deadline``)."""

        def hold(deadline: IntArray) -> IntArray:
            return deadline if after is None else np.where(deadline > after, deadline, NEVER)

        size = len(bucket)
        all_slots = np.arange(size)
        due = np.full(size, NEVER, np.int64)
        for index, signal in enumerate(SIGNALS):
            arrived = bucket.arrived[index]
            some = arrived != NO_TIME
            if not some.any():  # a signal none of these patients sends: nothing due
                continue
            held = np.bincount(bucket.held[index].slot, minlength=size)
            waiting = some & (held > bucket.released[index])
            due = np.minimum(due, hold(np.where(waiting, arrived + self.lateness, NEVER)))
            holding = held > 0
            for kernel in self._holding[signal]:
                holding |= kernel.held_until_quiet(bucket.state_of(kernel), all_slots, signal)
            pairing = self._hold(signal, live=True)
            due = np.minimum(due, hold(np.where(some & holding, arrived + pairing, NEVER)))
            for kernel in self._quiet[signal]:
                deadline = np.full(size, NO_TIME, np.int64)
                deadline[some] = kernel.quiet_deadline(
                    bucket.state_of(kernel), all_slots[some], arrived[some]
                )
                due = np.minimum(due, np.where(deadline != NO_TIME, deadline, NEVER))
        last = bucket.arrived.max(axis=0) if size else np.empty(0, np.int64)
        due = np.minimum(due, np.where(last != NO_TIME, last + self.state_ttl, NEVER))
        return np.where(due == NEVER, NO_TIME, due)

    def expired(self, bucket: Bucket, slots: IntArray, now_ms: int) -> IntArray:
        """Of these slots, those silent for the state's time to live (to forget)."""
        last = bucket.arrived[:, slots].max(axis=0)
        silent = now_ms - np.where(last != NO_TIME, last, now_ms)
        gone: IntArray = slots[(last != NO_TIME) & (silent >= self.state_ttl)]
        return gone
