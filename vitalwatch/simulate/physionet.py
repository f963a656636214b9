"""Replay one PhysioNet 2012 ICU stay (``set-a/<RecordID>.txt``) as readings.

Rows are ``Time,Parameter,Value`` with ``Time`` as HH:MM since ICU admission. ``HR`` becomes a
heart-rate reading, ``RespRate`` a respiration reading and ``Temp`` a temperature reading;
invasive (``SysABP``, ``DiasABP``, ``MAP``) or else non-invasive (``NISysABP``, ...) pressures at
one time become one blood-pressure reading. Not replayed: ``SaO2`` (arterial, not the pulse
oximetry NEWS2 scores), ``GCS`` (no agreed mapping to ACVPU) and ``FiO2`` (no SpO2 to carry it).
Values are sent as recorded, so a recording artefact is caught by validation like any device
fault.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from vitalwatch.contracts.readings import Signal
from vitalwatch.simulate.messages import Message

# A PhysioNet 2012 record covers the first 48 hours of the ICU stay.
PHYSIONET_STAY_MS = 48 * 3_600_000

_BP_FIELDS = {
    "invasive": {"SysABP": "systolic", "DiasABP": "diastolic", "MAP": "mean"},
    "non_invasive": {"NISysABP": "systolic", "NIDiasABP": "diastolic", "NIMAP": "mean"},
}


# Parameters that are one reading each: their signal and field.
_SINGLE = {
    "HR": (Signal.HEART_RATE, "bpm"),
    "RespRate": (Signal.RESPIRATION, "rate"),
    "Temp": (Signal.TEMPERATURE, "celsius"),
}


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def stay_messages(path: Path, start_ms: int, patient_prefix: str = "PN12-") -> Iterator[Message]:
    record_id = path.stem
    pid = f"{patient_prefix}{record_id}"
    single: list[tuple[int, Signal, dict[str, float]]] = []
    pressures: dict[int, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            minute, parameter, value = _minutes(row["Time"]), row["Parameter"], float(row["Value"])
            if parameter in _SINGLE:
                signal, field = _SINGLE[parameter]
                single.append((minute, signal, {field: value}))
            for kind, names in _BP_FIELDS.items():
                if parameter in names:
                    pressures[minute][kind][names[parameter]] = value
    events = single
    for minute, kinds in pressures.items():
        chosen = kinds.get("invasive") or kinds.get("non_invasive") or {}
        if "systolic" in chosen and "diastolic" in chosen:
            events.append((minute, Signal.BLOOD_PRESSURE, chosen))
    yield from reading_messages(pid, start_ms, [(m * 60_000, s, v) for m, s, v in events])


def reading_messages(
    pid: str,
    start_ms: int,
    events: Iterable[tuple[int, Signal, dict[str, float]]],
    device_id: str = "physionet",
) -> Iterator[Message]:
    """``events`` (ms since ``start_ms``, signal, values) as reading messages, in time order and,
    at one time, in the order of the signals' names."""
    for offset_ms, signal, values in sorted(events, key=lambda e: (e[0], e[1].value)):
        body = {"patient_id": pid, "ts": start_ms + offset_ms, **values, "device_id": device_id}
        yield Message(offset_ms, signal, pid.encode(), json.dumps(body).encode())
