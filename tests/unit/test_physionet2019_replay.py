"""PhysioNet 2019 patients (``.psv``) as readings and sepsis label times: hand-made files, and
one real file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitalwatch.contracts.readings import Signal
from vitalwatch.simulate.physionet2019 import first_sepsis_label_ms, stay_messages

HOUR = 3_600_000
START = 1_000_000
# The header of the challenge's files: 41 columns.
HEADER = (
    "HR|O2Sat|Temp|SBP|MAP|DBP|Resp|EtCO2|BaseExcess|HCO3|FiO2|pH|PaCO2|SaO2|AST|BUN|Alkalinephos|"
    "Calcium|Chloride|Creatinine|Bilirubin_direct|Glucose|Lactate|Magnesium|Phosphate|Potassium|"
    "Bilirubin_total|TroponinI|Hct|Hgb|PTT|WBC|Fibrinogen|Platelets|Age|Gender|Unit1|Unit2|"
    "HospAdmTime|ICULOS|SepsisLabel"
)
REAL = Path(__file__).resolve().parents[2].parent / "shared/data/physionet2019/p100047.psv"


def psv(path: Path, rows: list[dict[str, object]]) -> Path:
    """A ``.psv`` file of ``rows`` (column -> value; every other column ``NaN``, the
    demographics as in the challenge's files)."""
    fixed = {"Age": 61, "Gender": 0, "Unit1": 1, "Unit2": 0, "HospAdmTime": -0.02}
    lines = [HEADER]
    for row in rows:
        cells = {**fixed, "SepsisLabel": 0, **row}
        lines.append("|".join(str(cells.get(c, "NaN")) for c in HEADER.split("|")))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_each_charted_value_becomes_a_reading_at_the_start_of_its_hour(tmp_path: Path) -> None:
    path = psv(tmp_path / "p000009.psv", [
        {"ICULOS": 1},  # nothing charted in the first hour
        {"ICULOS": 2, "HR": 93, "O2Sat": 92.5, "SBP": 110, "DBP": 56, "Resp": 22, "FiO2": 0.5},
        {"ICULOS": 3, "SBP": 100, "Temp": 38.5},  # a systolic alone is no blood pressure
        {"ICULOS": 4, "SBP": 80, "MAP": 85, "DBP": 90, "HR": 120.5, "SepsisLabel": 1},
    ])  # fmt: skip
    messages = list(stay_messages(path, START))

    def reading(hour: int, values: dict[str, float]) -> dict[str, object]:
        return {"patient_id": "PN19-p000009", "ts": START + hour * HOUR, **values,
                "device_id": "physionet2019"}  # fmt: skip

    assert [(m.offset_ms, m.signal, json.loads(m.value)) for m in messages] == [
        (HOUR, Signal.BLOOD_PRESSURE, reading(1, {"systolic": 110.0, "diastolic": 56.0})),
        (HOUR, Signal.HEART_RATE, reading(1, {"bpm": 93.0})),
        (HOUR, Signal.RESPIRATION, reading(1, {"rate": 22.0})),
        (HOUR, Signal.SPO2, reading(1, {"spo2": 92.5})),  # no on_oxygen: FiO2 is not a flag
        (2 * HOUR, Signal.TEMPERATURE, reading(2, {"celsius": 38.5})),
        # As recorded, the diastolic above the systolic: validation dead-letters it.
        (3 * HOUR, Signal.BLOOD_PRESSURE,
         reading(3, {"systolic": 80.0, "mean": 85.0, "diastolic": 90.0})),
        (3 * HOUR, Signal.HEART_RATE, reading(3, {"bpm": 120.5})),
    ]  # fmt: skip
    assert {m.key for m in messages} == {b"PN19-p000009"}
    assert first_sepsis_label_ms(path, START) == START + 3 * HOUR


def test_a_stay_that_starts_later_keeps_its_hours_and_may_have_no_sepsis(tmp_path: Path) -> None:
    path = psv(tmp_path / "p000010.psv", [{"ICULOS": 5, "HR": 70}, {"ICULOS": 6, "HR": 71}])
    assert [m.offset_ms for m in stay_messages(path, START)] == [4 * HOUR, 5 * HOUR]
    assert first_sepsis_label_ms(path, START) is None


@pytest.mark.skipif(not REAL.exists(), reason="needs ../shared/data (PhysioNet 2019)")
def test_a_real_patient_gives_one_reading_per_charted_value() -> None:
    rows = [line.split("|") for line in REAL.read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    charted = {name: sum(row[header.index(name)] != "NaN" for row in rows)
               for name in ("HR", "O2Sat", "Resp", "Temp")}  # fmt: skip
    signals = [m.signal for m in stay_messages(REAL, 0)]
    assert [signals.count(s) for s in (Signal.HEART_RATE, Signal.SPO2, Signal.RESPIRATION,
            Signal.TEMPERATURE)] == list(charted.values())  # fmt: skip
    assert Signal.CONSCIOUSNESS not in signals
    # SepsisLabel turns 1 at ICULOS 27 (6 h before the clinical onset).
    assert first_sepsis_label_ms(REAL, 0) == 26 * HOUR
