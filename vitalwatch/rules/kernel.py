"""How a rule kind runs over a state bucket's readings as columns: the ``Kernel`` interface, and
the fallback for kinds that ship no kernel.

A kernel evaluates one rule over all the readings a call releases to it, for all the bucket's
patients at once: the readings come as arrays sorted by patient slot and then in the order the
reference evaluator would feed them (``Released``), and the rule's per-patient state is a set of
arrays with one row per slot (``KernelState``), stored without per-patient JSON. A kernel must
give exactly the alerts of its kind's per-reading ``step()`` (the reference semantics, kept
readable in the kind's module); ``tests/unit/rules/test_engine_differential.py`` checks that
for every built-in kernel.

A third-party kind without a kernel (``RuleKind.kernel`` returns None) runs through
``ReferenceKernel``: its per-reading ``step()`` per patient, with its state as one dict per
slot. Correct, at the per-reading Python cost the kernels remove.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vitalwatch.contracts.alerts import Alert
from vitalwatch.contracts.readings import ACVPU_FIELD, ON_OXYGEN_FIELD, Reading, Signal
from vitalwatch.rules.kind import PatientContext, RuleKind

# The signals in the order the reference evaluator releases them to the rules within one call
# (``Signal``'s), and the value columns every released reading carries (NaN: absent), new ones
# at the end: a bucket's state stores both in this order (``rules.bucket``).
SIGNALS: tuple[Signal, ...] = tuple(Signal)
SIGNAL_INDEX = {signal: index for index, signal in enumerate(SIGNALS)}
VALUE_FIELDS = (
    "bpm", "systolic", "diastolic", "mean", "spo2", ON_OXYGEN_FIELD, "rate", "celsius", ACVPU_FIELD,
)  # fmt: skip
VALUE_INDEX = {name: index for index, name in enumerate(VALUE_FIELDS)}
# An absent time (None in the reference state) in int64 arrays.
NO_TIME = np.iinfo(np.int64).min

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
KernelState = dict[str, np.ndarray]
"""A rule's state for a bucket: arrays whose first axis is the patient slot, and optionally
(names starting ``list.``, see ``rules.bucket``) a flat list of entries with their slots in
``list.slot``, sorted by slot: for state whose size varies per patient, like a window."""


@dataclass
class Released:
    """Readings released to one rule in one call, sorted by slot, then in release order."""

    slot: IntArray
    signal: npt.NDArray[np.int8]  # index into SIGNALS
    ts: IntArray
    values: FloatArray  # (n, len(VALUE_FIELDS))

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, mask: BoolArray) -> Released:
        return Released(self.slot[mask], self.signal[mask], self.ts[mask], self.values[mask])


@dataclass
class Patients:
    """The bucket's patients by slot, as the rules see them besides readings."""

    contexts: list[PatientContext]

    def settings(self, rule: RuleKind[Any], name: str, default: float) -> FloatArray:
        """A numeric spec field per slot, with each patient's roster override."""
        values = np.full(len(self.contexts), default, dtype=np.float64)
        key = f"{rule.spec.id}.{name}"
        for slot, context in enumerate(self.contexts):
            if context.overrides:
                values[slot] = context.overrides.get(key, default)
        return values


class Kernel:
    """One rule over a bucket, vectorised. Subclasses implement ``blank`` and ``run``; kinds
    that react to silence or hold readings back also the methods that mirror ``RuleKind``'s
    ``quiet_deadline``, ``on_quiet``, ``finish`` and ``held_until_quiet``."""

    # Overridden by kernels that have silence deadlines (saves the engine a call per signal).
    has_quiet_deadline = False
    holds_readings = False
    settles = False  # has a ``settle`` (saves the engine a call per call)

    def __init__(self, rule: RuleKind[Any]) -> None:
        self.rule = rule
        self.signals = rule.signals
        self.pairs = len(rule.signals) > 1

    def blank(self, slots: int) -> KernelState:
        """The state of ``slots`` patients the rule has not seen yet."""
        raise NotImplementedError

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        """Advance the rule over ``released`` (state updated in place); its alerts."""
        raise NotImplementedError

    def quiet_deadline(self, state: KernelState, slots: IntArray, arrived: IntArray) -> IntArray:
        """Per slot, the processing time ``on_quiet`` is due (NO_TIME: never)."""
        return np.full(len(slots), NO_TIME, dtype=np.int64)

    def on_quiet(
        self, state: KernelState, patients: Patients, slots: IntArray, now_ms: int
    ) -> list[Alert]:
        return []

    def settle(
        self, state: KernelState, patients: Patients, slots: IntArray, waiting: BoolArray
    ) -> list[Alert]:
        """``RuleKind.settle`` for these slots; ``waiting[i, k]``: slot ``slots[i]`` waits for
        signal ``SIGNALS[k]``."""
        return []

    def finish(
        self,
        state: KernelState,
        patients: Patients,
        slots: IntArray,
        quiet: dict[Signal, BoolArray],
    ) -> list[Alert]:
        """``quiet``: per signal (every one, as the reference's ``finish`` is given them all),
        which of ``slots`` have gone quiet (or ended)."""
        return []

    def held_until_quiet(self, state: KernelState, slots: IntArray, signal: Signal) -> BoolArray:
        return np.zeros(len(slots), dtype=bool)


def reading_at(released: Released, index: int) -> Reading:
    """One released reading as the reference ``Reading`` (its signal's present fields)."""
    values = {
        name: float(value)
        for name, value in zip(VALUE_FIELDS, released.values[index].tolist(), strict=True)
        if value == value  # not NaN
    }
    return Reading(SIGNALS[released.signal[index]], int(released.ts[index]), values)


class ReferenceKernel(Kernel):
    """The fallback: the kind's own per-reading methods, per patient, state one dict a slot."""

    def __init__(self, rule: RuleKind[Any]) -> None:
        super().__init__(rule)
        kind = type(rule)
        self.has_quiet_deadline = kind.quiet_deadline is not RuleKind.quiet_deadline
        self.holds_readings = kind.held_until_quiet is not RuleKind.held_until_quiet
        self.settles = kind.settle is not RuleKind.settle

    def blank(self, slots: int) -> KernelState:
        states = np.empty(slots, dtype=object)
        states[:] = [{} for _ in range(slots)]
        return {"state": states}

    def run(self, state: KernelState, patients: Patients, released: Released) -> list[Alert]:
        states = state["state"]
        alerts: list[Alert] = []
        for index in range(len(released)):
            slot = int(released.slot[index])
            reading = reading_at(released, index)
            states[slot], fired = self.rule.step(states[slot], reading, patients.contexts[slot])
            alerts += fired
        return alerts

    def quiet_deadline(self, state: KernelState, slots: IntArray, arrived: IntArray) -> IntArray:
        deadlines = np.full(len(slots), NO_TIME, dtype=np.int64)
        for i, slot in enumerate(slots.tolist()):
            deadline = self.rule.quiet_deadline(state["state"][slot], int(arrived[i]))
            if deadline is not None:
                deadlines[i] = deadline
        return deadlines

    def on_quiet(
        self, state: KernelState, patients: Patients, slots: IntArray, now_ms: int
    ) -> list[Alert]:
        states = state["state"]
        alerts: list[Alert] = []
        for slot in slots.tolist():
            states[slot], fired = self.rule.on_quiet(states[slot], patients.contexts[slot], now_ms)
            alerts += fired
        return alerts

    def finish(
        self,
        state: KernelState,
        patients: Patients,
        slots: IntArray,
        quiet: dict[Signal, BoolArray],
    ) -> list[Alert]:
        states = state["state"]
        alerts: list[Alert] = []
        for i, slot in enumerate(slots.tolist()):
            signals = frozenset(s for s, mask in quiet.items() if mask[i])
            if signals:
                states[slot], fired = self.rule.finish(
                    states[slot], patients.contexts[slot], signals
                )
                alerts += fired
        return alerts

    def settle(
        self, state: KernelState, patients: Patients, slots: IntArray, waiting: BoolArray
    ) -> list[Alert]:
        states = state["state"]
        alerts: list[Alert] = []
        for i, slot in enumerate(slots.tolist()):
            signals = frozenset(s for s, wait in zip(SIGNALS, waiting[i], strict=True) if wait)
            states[slot], fired = self.rule.settle(states[slot], patients.contexts[slot], signals)
            alerts += fired
        return alerts

    def held_until_quiet(self, state: KernelState, slots: IntArray, signal: Signal) -> BoolArray:
        states = state["state"]
        return np.array(
            [signal in self.rule.held_until_quiet(states[slot]) for slot in slots.tolist()],
            dtype=bool,
        )


def kernel_for(rule: RuleKind[Any]) -> Kernel:
    """The rule's own kernel, or the per-reading fallback when its kind ships none."""
    return rule.kernel() or ReferenceKernel(rule)


def kernels_for(rules: Sequence[RuleKind[Any]]) -> list[Kernel]:
    return [kernel_for(rule) for rule in rules]
