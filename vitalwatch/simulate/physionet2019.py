"""Replay one PhysioNet/CinC Challenge 2019 patient (``p<id>.psv``) as readings.

A ``.psv`` file is pipe-separated with a header, one row per hour in the ICU; ``NaN`` is "not
measured". ``ICULOS`` is the hour (ICU length of stay, 1 for the first hour). A row's ``HR``
becomes a heart-rate reading, ``O2Sat`` an SpO2 reading, ``Resp`` a respiration reading, ``Temp``
a temperature reading, and ``SBP`` with ``DBP`` (and ``MAP`` as the mean, when charted) a
blood-pressure reading, only when both are charted. The data set has no oxygen flag and no level
of consciousness, so SpO2 readings carry no ``on_oxygen`` and there are no consciousness readings.

Time: the challenge gives each row's hour, not when within it a value was measured (values of
one hour are summarised in one row), so every reading of a row is stamped at the start of its
hour, ``start + (ICULOS - 1) h``: the first hour at ``start``. The sepsis label of a row is
stamped the same way (``first_sepsis_label_ms``), so a reading and a label of one row share one
time. Values are sent as recorded: a recording artefact (diastolic above systolic, say) is caught
by validation like any device fault.

``SepsisLabel`` is 1 from 6 hours before the clinical onset of sepsis (t_sepsis - 6 h) onward, as
the challenge defines it, not from the onset itself.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

from vitalwatch.contracts.readings import Signal
from vitalwatch.simulate.messages import Message
from vitalwatch.simulate.physionet import reading_messages

PATIENT_PREFIX = "PN19-"
HOUR_MS = 3_600_000
SUFFIX = ".psv"

# One-value signals: column -> (signal, reading field).
_SINGLE = {
    "HR": (Signal.HEART_RATE, "bpm"),
    "O2Sat": (Signal.SPO2, "spo2"),
    "Resp": (Signal.RESPIRATION, "rate"),
    "Temp": (Signal.TEMPERATURE, "celsius"),
}
_PRESSURE = {"SBP": "systolic", "DBP": "diastolic", "MAP": "mean"}


def patient_id(path: Path) -> str:
    return f"{PATIENT_PREFIX}{path.stem}"


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row with its offset from the start of the stay: (ICULOS - 1) hours."""
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="|"):
            yield (int(row["ICULOS"]) - 1) * HOUR_MS, row


def _charted(row: dict[str, str], names: dict[str, str]) -> dict[str, float]:
    """The columns of ``names`` charted in ``row`` (not ``NaN``), under their reading fields."""
    values = {field: float(row[column]) for column, field in names.items()}
    return {field: value for field, value in values.items() if not math.isnan(value)}


def stay_messages(path: Path, start_ms: int) -> Iterator[Message]:
    events: list[tuple[int, Signal, dict[str, float]]] = []
    for offset_ms, row in _rows(path):
        for column, (signal, field) in _SINGLE.items():
            value = _charted(row, {column: field})
            if value:
                events.append((offset_ms, signal, value))
        pressure = _charted(row, _PRESSURE)
        if "systolic" in pressure and "diastolic" in pressure:
            events.append((offset_ms, Signal.BLOOD_PRESSURE, pressure))
    yield from reading_messages(patient_id(path), start_ms, events, device_id="physionet2019")


def first_sepsis_label_ms(path: Path, start_ms: int) -> int | None:
    """When the patient's ``SepsisLabel`` is first 1 (6 h before the clinical onset of sepsis),
    stamped as the row's readings are; None for a patient without sepsis."""
    for offset_ms, row in _rows(path):
        if float(row["SepsisLabel"]) == 1:
            return start_ms + offset_ms
    return None
