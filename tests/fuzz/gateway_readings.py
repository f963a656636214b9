"""What every reading a gateway writes must pass: the checks the stream applies to it."""

from __future__ import annotations

import re

from vitalwatch.contracts.readings import (
    EVENT_TIME_RANGE_MS,
    ON_OXYGEN_FIELD,
    PATIENT_ID_PATTERN,
    POSSIBLE_RANGE,
    SIGNAL_FIELDS,
    Signal,
)
from vitalwatch.gateway.oru import GatewayReading


def check_reading(reading: GatewayReading, now_ms: int, skew_ms: int) -> None:
    """Patient id pattern, event time from 1970 to 9999 and not ahead of the clock, fields of
    its signal within what a body can show, a blood pressure with both pressures, diastolic not
    above systolic."""
    assert re.match(PATIENT_ID_PATTERN, reading.patient_id)
    assert EVENT_TIME_RANGE_MS[0] <= reading.ts_ms <= min(EVENT_TIME_RANGE_MS[1], now_ms + skew_ms)
    assert isinstance(reading.signal, Signal)
    assert set(reading.values) <= {*SIGNAL_FIELDS[reading.signal], ON_OXYGEN_FIELD}
    for name, value in reading.values.items():
        if name == ON_OXYGEN_FIELD:
            assert value in (0.0, 1.0)
            continue
        low, high = POSSIBLE_RANGE[name]
        assert low <= value <= high, (name, value)
    if reading.signal is Signal.BLOOD_PRESSURE:
        assert {"systolic", "diastolic"} <= reading.values.keys()
        assert reading.values["diastolic"] <= reading.values["systolic"]
