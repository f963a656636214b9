"""Sepsis figures of a backtest (PhysioNet 2019's labels), computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.test_backtest_report import alert
from tests.unit.test_physionet2019_replay import psv
from vitalwatch.backtest.report import as_csv, as_json, as_table
from vitalwatch.backtest.run import START_MS, is_physionet2019, sepsis_labels, stay_files
from vitalwatch.backtest.sepsis import sepsis_figures, sepsis_summary
from vitalwatch.cli import main

HOUR = 3_600_000
SPANS = {p: (0, 20 * HOUR) for p in ("S1", "S2", "S3", "N1", "N2", "N3")}
# First positive label: S1 at 10 h, S2 at 5 h, S3 from its first reading; "gone" has sepsis but
# no reading in the backtest, so it counts in no group (else r1's share would be 1 of 4).
LABELS = {"S1": 10 * HOUR, "S2": 5 * HOUR, "S3": 0, "N1": None, "N2": None, "N3": None,
          "gone": 8 * HOUR}  # fmt: skip
ALERTS = [
    # r1: S1 alerted at 2 h and again at 7 h (lead from the first: 8 h); S2 only at its label's
    # hour and after (not before); S3 after its label; N1 alerted.
    alert("r1", "S1", "firing", 2 * HOUR, 2 * HOUR),
    alert("r1", "S1", "resolved", 2 * HOUR, 3 * HOUR),
    alert("r1", "S1", "firing", 7 * HOUR, 7 * HOUR),
    alert("r1", "S2", "resolved", 0, 1 * HOUR),  # a resolve is no alert
    alert("r1", "S2", "firing", 4 * HOUR, 5 * HOUR),  # detected (5 h), not onset, counts
    alert("r1", "S2", "firing", 6 * HOUR, 6 * HOUR),
    alert("r1", "S3", "firing", 1 * HOUR, 1 * HOUR),
    alert("r1", "N1", "firing", 3 * HOUR, 3 * HOUR),
    # r2: S2 3 h ahead, S1 half an hour ahead; N1 and N2 alerted.
    alert("r2", "S2", "firing", 2 * HOUR, 2 * HOUR),
    alert("r2", "S1", "firing", 9 * HOUR, 9 * HOUR + HOUR // 2),
    alert("r2", "N1", "firing", 0, 0),
    alert("r2", "N2", "firing", 12 * HOUR, 12 * HOUR),
]


def test_sepsis_figures_per_rule() -> None:
    r1, r2, r3 = sepsis_figures(ALERTS, ["r1", "r2", "r3"], SPANS, LABELS)
    assert (r1.sepsis_alerted_before_label_share, r1.median_lead_h) == (pytest.approx(1 / 3), 8.0)
    assert r1.non_sepsis_alerted_share == pytest.approx(1 / 3)
    assert (r2.sepsis_alerted_before_label_share, r2.median_lead_h) == (pytest.approx(2 / 3), 1.75)
    assert r2.non_sepsis_alerted_share == pytest.approx(2 / 3)
    assert (r3.sepsis_alerted_before_label_share, r3.median_lead_h) == (0.0, None)
    assert r3.non_sepsis_alerted_share == 0.0
    # The burden as for any backtest.
    assert (r1.alerts, r1.flapping, r1.patients_alerted_share) == (6, 2, pytest.approx(4 / 6))
    assert r1.median_duration_min == 60.0


def test_without_sepsis_patients_the_sepsis_shares_are_unknown() -> None:
    (row,) = sepsis_figures(ALERTS, ["r2"], SPANS, {p: None for p in SPANS})
    assert (row.sepsis_alerted_before_label_share, row.median_lead_h) == (None, None)
    assert row.non_sepsis_alerted_share == pytest.approx(4 / 6)


def test_summary_counts_the_patients_labelled_from_their_first_reading() -> None:
    assert sepsis_summary(SPANS, LABELS) == (
        "3 of 6 patients with sepsis (SepsisLabel 1 from 6 h before onset), 1 of them labelled "
        "from their first reading"
    )


def test_outputs_have_the_burden_then_the_sepsis_columns() -> None:
    rows = sepsis_figures(ALERTS, ["r1", "r2"], SPANS, LABELS)
    columns = (
        "rule,alerts,alerts_per_patient_day,patients_alerted_share,median_duration_min,flapping,"
        "sepsis_alerted_before_label_share,median_lead_h,non_sepsis_alerted_share"
    )
    assert as_csv(rows).splitlines()[0] == columns
    assert json.loads(as_json(rows))[1]["median_lead_h"] == 1.75
    table = as_table(rows, "title").splitlines()
    assert table[1].split() == columns.split(",")
    assert table[3].split()[-3:] == ["0.667", "1.750", "0.667"]


def test_psv_files_are_found_with_their_labels_and_outcomes_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    psv(tmp_path / "p000002.psv", [{"ICULOS": 1, "HR": 80}, {"ICULOS": 2, "SepsisLabel": 1}])
    psv(tmp_path / "p000001.psv", [{"ICULOS": 1, "HR": 80}])
    (tmp_path / "notes.txt").write_text("not a stay")
    files = stay_files(tmp_path)
    assert [f.name for f in files] == ["p000001.psv", "p000002.psv"] and is_physionet2019(files)
    assert sepsis_labels(files) == {"PN19-p000001": None, "PN19-p000002": START_MS + HOUR}
    assert not is_physionet2019(stay_files(tmp_path / "notes.txt"))
    # The labels are in the files: an Outcomes-a.txt (PhysioNet 2012) would not match them.
    assert main(["backtest", "--input", str(tmp_path), "--outcomes", "Outcomes-a.txt"]) == 2
    assert "sepsis labels" in capsys.readouterr().err
