"""Input readings (contract version 2).

``vitals.heart_rate``:     {"patient_id", "ts", "bpm", "device_id"?}
``vitals.blood_pressure``: {"patient_id", "ts", "systolic", "diastolic", "mean"?, "device_id"?}
``vitals.spo2``:           {"patient_id", "ts", "spo2", "on_oxygen"?, "device_id"?}  spo2 in %
``vitals.respiration``:    {"patient_id", "ts", "rate", "device_id"?}  breaths per minute
``vitals.temperature``:    {"patient_id", "ts", "celsius", "device_id"?}
``vitals.consciousness``:  {"patient_id", "ts", "acvpu", "device_id"?}  one of A, C, V, P, U

Key = patient id. ``ts`` is event time, ISO-8601 or epoch milliseconds. ``mean`` is computed as
(systolic + 2 x diastolic) / 3 when absent. The limits below are what a body can show at all
(not alarm limits): a value outside them is a device or gateway fault and is dead-lettered.

Version 2 added the last four topics, without changing the first two: the rest of the NEWS2
observations (Royal College of Physicians, NEWS2, 2017), written by the gateways
(``vitalwatch.gateway``) or any producer of this contract. A topic per signal, not a field in
one topic, so that version-1 producers and consumers are untouched and each feed keeps its own
partitions, retention and ACLs. ``on_oxygen`` is NEWS2's "air or oxygen" (true: supplemental
oxygen; absent: not known), a field of the SpO2 reading because NEWS2 scores SpO2 with it.
``acvpu`` is NEWS2's level of consciousness (Alert, new Confusion, Voice, Pain, Unresponsive),
a topic of its own because it is charted by a nurse, not measured with the SpO2.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Signal(str, Enum):
    """The reading topics' signals, in the order the rules are given a call's readings. The
    stream's state keeps a column per signal in this order, so a new signal goes at the end
    (state written before it then reads back with the new columns empty)."""

    BLOOD_PRESSURE = "blood_pressure"
    HEART_RATE = "heart_rate"
    SPO2 = "spo2"
    RESPIRATION = "respiration"
    TEMPERATURE = "temperature"
    CONSCIOUSNESS = "consciousness"


# The numeric fields each signal carries, and their physiologically possible range (inclusive):
# SpO2 is a percentage; a respiration rate of 0 is apnoea and newborns breathe up to ~80/min;
# body temperatures survived reach from 13.7 degC (accidental hypothermia) to 46.5 degC (heat
# stroke). The consciousness level is a letter (``ACVPU_FIELD``), not a number.
SIGNAL_FIELDS: dict[Signal, tuple[str, ...]] = {
    Signal.BLOOD_PRESSURE: ("systolic", "diastolic", "mean"),
    Signal.HEART_RATE: ("bpm",),
    Signal.SPO2: ("spo2",),
    Signal.RESPIRATION: ("rate",),
    Signal.TEMPERATURE: ("celsius",),
    Signal.CONSCIOUSNESS: (),
}
# The fields a reading of each signal must have besides ``patient_id`` and ``ts``.
REQUIRED_FIELDS: dict[Signal, tuple[str, ...]] = {
    Signal.BLOOD_PRESSURE: ("systolic", "diastolic"),
    Signal.HEART_RATE: ("bpm",),
    Signal.SPO2: ("spo2",),
    Signal.RESPIRATION: ("rate",),
    Signal.TEMPERATURE: ("celsius",),
    Signal.CONSCIOUSNESS: ("acvpu",),
}
POSSIBLE_RANGE: dict[str, tuple[float, float]] = {
    "bpm": (0.0, 350.0),
    "systolic": (0.0, 350.0),
    "diastolic": (0.0, 300.0),
    "mean": (0.0, 320.0),
    "spo2": (0.0, 100.0),
    "rate": (0.0, 150.0),
    "celsius": (10.0, 47.0),
}
# The SpO2 reading's optional JSON boolean, and the consciousness reading's letter. The rules
# see them as numbers: on_oxygen 1.0 or 0.0 (absent: not known), acvpu its index in
# ``ACVPU_LEVELS`` (0 = Alert).
ON_OXYGEN_FIELD = "on_oxygen"
ACVPU_FIELD = "acvpu"
ACVPU_LEVELS = ("A", "C", "V", "P", "U")
# Whole-string patterns, the same in Java (Spark) and Python: "(?![\s\S])" is the absolute end,
# since "$" also matches before a final line break in both ("P-1\n" would pass).
PATIENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}(?![\s\S])"
# ``ts`` as text: epoch milliseconds, or an ISO-8601 date and time to the second (fraction and
# zone optional; no zone: UTC). A time without a date is refused (Spark would give it today's
# date, so the same message would get another event time on another day).
EPOCH_MS_PATTERN = r"^[0-9]{1,15}(?![\s\S])"
# Event times from 1970 to the end of year 9999: an alert's times are written as ISO-8601 text,
# which has no later years (a reading in year 33658 made the alert writer fail the whole job).
EVENT_TIME_RANGE_MS = (0, 253_402_300_799_999)
ISO_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?(?![\s\S])"
)
# A number as JSON writes it (a number sent as a JSON string is read as that number, but
# "88d", "0x1p3" or " 88" are not numbers, though Java would parse them).
JSON_NUMBER_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?(?![\s\S])"


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
    FUTURE = "future"  # stamped further ahead of its Kafka record than clocks may be off


# How much later than a reading of another signal, stamped at or after it, a patient's reading
# may reach the query for the rules that pair signals to still see both (``rules.pairing_wait``'s
# default). Kafka orders a key's records within a topic, not across topics, so a producer of this
# contract publishes a patient's readings of different signals within this of each other.
# Measured with the project's publishers on a real broker (``python -m bench.cross_topic``,
# bench/LATENCY.md, five runs): at most 94 ms live at 1,000 patients, 243 ms publishing a
# backlog as fast as the producer goes.
PAIRING_WAIT_MS = 500

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
