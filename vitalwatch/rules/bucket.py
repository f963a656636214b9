"""A state bucket's patients and their rule state, as columns: one row per patient slot.

What the reference evaluator keeps per patient (``PatientState``: per signal a watermark, the
held readings, the arrival time; per rule a dict) is kept here for all of a bucket's patients
at once: per signal, int64 arrays over the slots and one flat table of held readings sorted by
slot and time; per rule, the arrays its kernel declares (``Kernel.blank``). Stored as one binary
value: a small JSON header naming the arrays, then their raw bytes, compressed with Zstandard
(``encode``); no per-patient JSON except for the patients' roster contexts and the state of kinds
that ship no kernel.

Why Zstandard at level 3: every bucket that changed is compressed again each micro-batch, and at
50,000 patients deflate (level 1) took ~24 % of the Python workers' time. On a 3,125-patient
bucket (5.1 MB raw) zstd 3 compresses in ~2-3 ms against deflate's 16 ms, decompresses in ~1 ms
against 4, and is smaller (ratio 10.9 against 9.3); storing raw bytes instead was slower overall
(RocksDB and the changelog write 10x the bytes). bench/CAPACITY.md has the A/B. A bucket stored
by an earlier version (deflate, ``VWB1``) still reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import zstandard

from vitalwatch.rules.kernel import (
    NO_TIME,
    SIGNALS,
    VALUE_FIELDS,
    FloatArray,
    IntArray,
    Kernel,
    KernelState,
    Patients,
)
from vitalwatch.rules.kind import PatientContext

_FORMAT = b"VWB2"  # a bucket written in this layout: Zstandard
_FORMAT_DEFLATE = b"VWB1"  # the same layout, deflated (written before 2026-12-07)
_ZSTD_LEVEL = 3
# A kernel's state arrays are one row per slot, except those named with this prefix: a flat
# list of entries (e.g. a window of readings) whose slots are in ``LIST_SLOT``, sorted by slot.
LIST = "list."
LIST_SLOT = "list.slot"


@dataclass
class Held:
    """Readings of one signal held back (not yet released to every rule), sorted by slot and
    then event time (arrival order among equal times)."""

    slot: IntArray
    ts: IntArray
    values: FloatArray

    @classmethod
    def empty(cls) -> Held:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, len(VALUE_FIELDS))))

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, selection: np.ndarray) -> Held:
        return Held(self.slot[selection], self.ts[selection], self.values[selection])


class Bucket:
    """One bucket's patients: who is in which slot, per-signal release state, rule state."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.patients = Patients([])
        shape = (len(SIGNALS), 0)
        self.watermark = np.full(shape, NO_TIME, np.int64)  # released to the one-signal rules
        self.paired = np.full(shape, NO_TIME, np.int64)  # released to the rules pairing signals
        self.arrived = np.full(shape, NO_TIME, np.int64)  # processing time of the newest arrival
        self.released = np.zeros(shape, np.int64)  # held readings already given to one-signal rules
        self.held = [Held.empty() for _ in SIGNALS]
        self.rules: dict[str, KernelState] = {}
        # Each slot's next deadline (processing time; NO_TIME: none), worked out after a call's
        # readings; None for a bucket decoded afresh.
        self.due: IntArray | None = None
        # The patients' contexts as stored, kept until they change: encoding them is most of
        # the cost of storing a bucket, and they change only when the roster does.
        self._encoded_patients: bytes | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def admit(self, ids: Sequence[str], contexts: Sequence[PatientContext]) -> IntArray:
        """The slots of these patients, new ones appended; their contexts as given (the roster
        row joined to this call's readings)."""
        slots = np.empty(len(ids), np.int64)
        added = 0
        for i, (patient_id, context) in enumerate(zip(ids, contexts, strict=True)):
            slot = self.index.get(patient_id)
            if slot is None:
                slot = self.index[patient_id] = len(self.ids)
                self.ids.append(patient_id)
                self.patients.contexts.append(context)
                added += 1
                self._encoded_patients = None
            elif self.patients.contexts[slot] != context:
                self.patients.contexts[slot] = context
                self._encoded_patients = None
            slots[i] = slot
        if added:
            self._grow(added)
        return slots

    def _grow(self, added: int) -> None:
        pad = np.full((len(SIGNALS), added), NO_TIME, np.int64)
        self.watermark = np.concatenate([self.watermark, pad], axis=1)
        self.paired = np.concatenate([self.paired, pad], axis=1)
        self.arrived = np.concatenate([self.arrived, pad], axis=1)
        self.released = np.concatenate([self.released, np.zeros_like(pad)], axis=1)
        if self.due is not None:
            self.due = np.concatenate([self.due, np.full(added, NO_TIME, np.int64)])
        # Rule states grow lazily, in ``state_of``.

    def state_of(self, kernel: Kernel) -> KernelState:
        """The rule's state over all slots (blank for slots or rules it has not seen)."""
        key = _state_key(kernel)
        state = self.rules.get(key)
        if state is None:
            state = self.rules[key] = kernel.blank(len(self.ids))
        rows = min((len(c) for n, c in state.items() if not n.startswith(LIST)), default=None)
        if rows is not None and rows < len(self.ids):
            extra = kernel.blank(len(self.ids) - rows)
            for name, column in state.items():
                if not name.startswith(LIST):
                    state[name] = np.concatenate([column, extra[name]])
        return state

    def drop(self, gone: IntArray) -> None:
        """Forget the patients in these slots; the others keep their order (slots renumbered)."""
        keep = np.ones(len(self.ids), bool)
        keep[gone] = False
        renumber = np.cumsum(keep) - 1
        self._encoded_patients = None
        self.ids = [pid for pid, k in zip(self.ids, keep.tolist(), strict=True) if k]
        self.index = {pid: slot for slot, pid in enumerate(self.ids)}
        self.patients.contexts = [
            c for c, k in zip(self.patients.contexts, keep.tolist(), strict=True) if k
        ]
        self.watermark, self.paired = self.watermark[:, keep], self.paired[:, keep]
        self.arrived, self.released = self.arrived[:, keep], self.released[:, keep]
        for index, held in enumerate(self.held):
            kept = held.take(keep[held.slot])
            kept.slot = renumber[kept.slot]
            self.held[index] = kept
        for state in self.rules.values():
            if LIST_SLOT in state:
                kept_entries = keep[state[LIST_SLOT]]
                for name in [n for n in state if n.startswith(LIST)]:
                    state[name] = state[name][kept_entries]
                state[LIST_SLOT] = renumber[state[LIST_SLOT]]
            for name, column in state.items():  # a state not grown yet is shorter: blank rows
                if not name.startswith(LIST):
                    state[name] = column[keep[: len(column)]]
        if self.due is not None:
            self.due = self.due[keep]

    def keep_rules(self, kernels: Sequence[Kernel]) -> None:
        """Drop the state of rules no longer loaded (a reload removed them)."""
        keys = {_state_key(kernel) for kernel in kernels}
        self.rules = {key: state for key, state in self.rules.items() if key in keys}

    def encode(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "watermark": self.watermark,
            "paired": self.paired,
            "arrived": self.arrived,
            "released": self.released,
        }
        for index, held in enumerate(self.held):
            arrays[f"held{index}.slot"] = held.slot
            arrays[f"held{index}.ts"] = held.ts
            arrays[f"held{index}.values"] = held.values
        for key, state in self.rules.items():
            for name, column in state.items():
                arrays[f"rule:{key}:{name}"] = column
        if self._encoded_patients is None:
            self._encoded_patients = orjson.dumps(
                [[c.patient_id, c.bed, c.ward, dict(c.overrides)] for c in self.patients.contexts]
            )
        header: list[list[object]] = []
        body: list[bytes] = []
        for name, column in arrays.items():
            if column.dtype == object:
                data = orjson.dumps(column.tolist())
                header.append([name, "json", len(data)])
            else:
                data = np.ascontiguousarray(column).tobytes()
                header.append([name, column.dtype.str, list(column.shape)])
            body.append(data)
        head = orjson.dumps(header)
        patients = self._encoded_patients
        sizes = len(head).to_bytes(4, "little") + len(patients).to_bytes(4, "little")
        compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        return _FORMAT + compressor.compress(sizes + head + patients + b"".join(body))

    @classmethod
    def decode(cls, stored: bytes | None) -> Bucket:
        bucket = cls()
        if not stored:
            return bucket
        if stored.startswith(_FORMAT):
            raw = zstandard.ZstdDecompressor().decompress(stored[len(_FORMAT) :])
        elif stored.startswith(_FORMAT_DEFLATE):
            raw = zlib.decompress(stored[len(_FORMAT_DEFLATE) :])
        else:
            raise ValueError("the bucket's state is not in this version's layout")
        head_size, patients_size = (
            int.from_bytes(raw[:4], "little"),
            int.from_bytes(raw[4:8], "little"),
        )
        head = orjson.loads(raw[8 : 8 + head_size])
        patients = raw[8 + head_size : 8 + head_size + patients_size]
        offset = 8 + head_size + patients_size
        arrays: dict[str, np.ndarray] = {}
        for name, dtype, shape in head:
            if dtype == "json":
                items = orjson.loads(raw[offset : offset + shape])
                column = np.empty(len(items), dtype=object)
                column[:] = items
                offset += shape
            else:
                count = int(np.prod(shape)) * np.dtype(dtype).itemsize
                column = np.frombuffer(raw, dtype, int(np.prod(shape)), offset).reshape(shape)
                column = column.copy()  # writable
                offset += count
            arrays[name] = column
        contexts = [
            PatientContext(pid, bed=bed, ward=ward, overrides=overrides)
            for pid, bed, ward, overrides in orjson.loads(patients)
        ]
        bucket._encoded_patients = patients
        bucket.ids = [c.patient_id for c in contexts]
        bucket.index = {pid: slot for slot, pid in enumerate(bucket.ids)}
        bucket.patients = Patients(contexts)
        # State written with fewer signals or value columns (contract version 1) gets the new
        # ones empty: ``Signal`` and ``VALUE_FIELDS`` only ever grow at the end.
        bucket.watermark = _rows(arrays.pop("watermark"), NO_TIME)
        bucket.paired = _rows(arrays.pop("paired"), NO_TIME)
        bucket.arrived = _rows(arrays.pop("arrived"), NO_TIME)
        bucket.released = _rows(arrays.pop("released"), 0)
        for index in range(len(SIGNALS)):
            if f"held{index}.slot" not in arrays:
                continue
            values = arrays.pop(f"held{index}.values")
            missing = len(VALUE_FIELDS) - values.shape[1]
            if missing:
                values = np.hstack([values, np.full((len(values), missing), np.nan)])
            bucket.held[index] = Held(
                arrays.pop(f"held{index}.slot"), arrays.pop(f"held{index}.ts"), values
            )
        for name, column in arrays.items():
            _, key, field = name.split(":", 2)
            bucket.rules.setdefault(key, {})[field] = column
        return bucket


def _rows(per_signal: IntArray, blank: int) -> IntArray:
    """A per-signal array with a row for each of ``SIGNALS``, those it lacks ``blank``."""
    missing = len(SIGNALS) - len(per_signal)
    if not missing:
        return per_signal
    pad = np.full((missing, per_signal.shape[1]), blank, np.int64)
    return np.concatenate([per_signal, pad])


def _state_key(kernel: Kernel) -> str:
    """A rule's state is kept by rule id and kernel: a reload that keeps a rule's kind keeps its
    state; one that changes it starts the rule afresh."""
    return f"{kernel.rule.spec.id}/{type(kernel).__name__}"
