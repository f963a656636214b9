"""Input readings (contract version 1).

``vitals.heart_rate``:     {"patient_id", "ts", "bpm", "device_id"?}
``vitals.blood_pressure``: {"patient_id", "ts", "systolic", "diastolic", "mean"?, "device_id"?}

Key = patient id. ``ts`` is event time, ISO-8601 or epoch milliseconds. ``mean`` is computed as
(systolic + 2 x diastolic) / 3 when absent. The limits below are what a body can show at all
(not alarm limits): a value outside them is a device or gateway fault and is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Signal(str, Enum):
    HEART_RATE = "heart_rate"
    BLOOD_PRESSURE = "blood_pressure"


# Fields each signal carries, and their physiologically possible range (inclusive).
SIGNAL_FIELDS: dict[Signal, tuple[str, ...]] = {
    Signal.HEART_RATE: ("bpm",),
    Signal.BLOOD_PRESSURE: ("systolic", "diastolic", "mean"),
}
POSSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "bpm": (0.0, 350.0),
    "systolic": (0.0, 350.0),
    "diastolic": (0.0, 300.0),
    "mean": (0.0, 320.0),
}
PATIENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class DeadLetterReason(str, Enum):
    """Why a message went to the dead-letter topic (the ``reason`` header)."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_PATIENT_ID = "bad_patient_id"
    KEY_MISMATCH = "key_mismatch"
    LATE = "late"


# Headers of every dead-letter message: why, and where the original message came from.
REASON_HEADER = "reason"
SOURCE_HEADERS = ("source.topic", "source.partition", "source.offset")


def mean_arterial_pressure(systolic: float, diastolic: float) -> float:
    return (systolic + 2.0 * diastolic) / 3.0


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading of one signal, as the rules see it."""

    signal: Signal
    ts_ms: int
    values: dict[str, float]
