"""What every reading a gateway writes must pass: the checks the stream applies to it."""

from __future__ import annotations

import json
import re

from vitalwatch.contracts.readings import (
    ACVPU_FIELD,
    ACVPU_LEVELS,
    EVENT_TIME_RANGE_MS,
    JSON_NUMBER_PATTERN,
    ON_OXYGEN_FIELD,
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    REQUIRED_FIELDS,
    SIGNAL_FIELDS,
    Signal,
)
from vitalwatch.gateway.oru import GatewayReading
from vitalwatch.gateway.records import reading_record
from vitalwatch.settings import TopicSettings

# The fields a reading of each signal may carry that are no number.
_OTHER_FIELDS = {Signal.SPO2: {ON_OXYGEN_FIELD}, Signal.CONSCIOUSNESS: {ACVPU_FIELD}}
_TOPICS = TopicSettings()


def check_reading(reading: GatewayReading, now_ms: int, skew_ms: int) -> None:
    """Patient id pattern, event time from 1970 to 9999 and not ahead of the clock, the fields
    its signal requires and no others, numbers within what a body can show, a blood pressure
    with diastolic not above systolic, on_oxygen a JSON boolean (of an SpO2 reading) and acvpu
    one of A, C, V, P, U; in its record's JSON as in the reading."""
    assert re.match(PATIENT_ID_PATTERN, reading.patient_id)
    assert EVENT_TIME_RANGE_MS[0] <= reading.ts_ms <= min(EVENT_TIME_RANGE_MS[1], now_ms + skew_ms)
    assert isinstance(reading.signal, Signal)
    allowed = {*SIGNAL_FIELDS[reading.signal], *_OTHER_FIELDS.get(reading.signal, ())}
    assert set(REQUIRED_FIELDS[reading.signal]) <= reading.values.keys() <= allowed
    body = json.loads(reading_record(reading, _TOPICS).value)
    for name, value in reading.values.items():
        assert body[name] == value and type(body[name]) is type(value), (name, value)
        if name == ON_OXYGEN_FIELD:
            assert isinstance(value, bool)
        elif name == ACVPU_FIELD:
            assert value in ACVPU_LEVELS
        else:
            assert isinstance(value, float) and re.match(JSON_NUMBER_PATTERN, json.dumps(value))
            low, high = POSSIBLE_RANGE[name]
            assert low <= value <= high, (name, value)
    if reading.signal is Signal.BLOOD_PRESSURE:
        assert reading.values["diastolic"] <= reading.values["systolic"]
