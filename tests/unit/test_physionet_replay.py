"""PhysioNet 2012 stays as readings, checked against one real stay file."""

import json
from pathlib import Path

import pytest

from vitalwatch.contracts.readings import Signal
from vitalwatch.simulate.physionet import stay_messages

STAY = Path(__file__).resolve().parents[2].parent / "shared/data/physionet2012/set-a/132539.txt"


@pytest.mark.skipif(not STAY.exists(), reason="needs ../shared/data (PhysioNet 2012)")
def test_stay_becomes_ordered_readings_with_the_charted_values() -> None:
    messages = list(stay_messages(STAY, start_ms=0))
    lines = STAY.read_text().splitlines()
    charted_hr = [line for line in lines if ",HR," in line]
    heart = [json.loads(m.value) for m in messages if m.signal is Signal.HEART_RATE]
    assert len(heart) == len(charted_hr)
    assert heart[0] == {"patient_id": "PN12-132539", "ts": 7 * 60_000, "bpm": 73.0,
                        "device_id": "physionet"}  # fmt: skip
    pressure = [json.loads(m.value) for m in messages if m.signal is Signal.BLOOD_PRESSURE]
    # 00:07 has only non-invasive pressures: NISysABP 147, NIDiasABP 65, NIMAP 92.33.
    assert pressure[0]["systolic"] == 147.0 and pressure[0]["mean"] == 92.33
    # 00:07 also charts RespRate 19 and Temp 35.1, each a reading of its signal.
    for signal, name, field, first in (
        (Signal.RESPIRATION, "RespRate", "rate", 19.0),
        (Signal.TEMPERATURE, "Temp", "celsius", 35.1),
    ):
        replayed = [json.loads(m.value) for m in messages if m.signal is signal]
        assert len(replayed) == len([line for line in lines if f",{name}," in line])
        assert (replayed[0]["ts"], replayed[0][field]) == (7 * 60_000, first)
    offsets = [m.offset_ms for m in messages]
    assert offsets == sorted(offsets)
    assert all(m.key == b"PN12-132539" for m in messages)


def test_invasive_pressures_win_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    """At one time, the invasive pressures make the reading, not the non-invasive ones; a pressure
    without its diastolic makes none; a blank line (a file saved by hand) is no row."""
    stay = tmp_path / "1.txt"
    stay.write_text(
        "Time,Parameter,Value\n00:00,RecordID,1\n00:00,Age,54\n\n"
        "00:05,NISysABP,120\n00:05,NIDiasABP,80\n00:05,SysABP,131\n00:05,DiasABP,62\n"
        "00:05,MAP,85\n01:10,SysABP,90\n01:10,HR,88\n"
    )
    messages = [(m.offset_ms, m.signal, json.loads(m.value)) for m in stay_messages(stay, 0)]
    assert messages == [
        (5 * 60_000, Signal.BLOOD_PRESSURE, {"patient_id": "PN12-1", "ts": 5 * 60_000,
         "systolic": 131.0, "diastolic": 62.0, "mean": 85.0, "device_id": "physionet"}),
        (70 * 60_000, Signal.HEART_RATE, {"patient_id": "PN12-1", "ts": 70 * 60_000,
         "bpm": 88.0, "device_id": "physionet"}),
    ]  # fmt: skip
