"""``vitalwatch backtest --input DIR`` over real PhysioNet 2019 patients (``.psv``): replayed,
run through the stream's transformation in Spark batch, and reported with the sepsis figures
read from the files' labels. The rule (NEWS2 systolic <= 90 on one reading) fires at the first
hour with a systolic of 90 or less, so the expected figures can be read off the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.spark

DATA = REPO.parent / "shared/data/physionet2019"
# Sepsis (first SepsisLabel 1 at ICULOS; first systolic <= 90 at ICULOS):
# p100047 (27; 8: 19 h ahead), p100072 (26; 3: 23 h ahead), p100049 (79; none), p100055 (1; none).
# No sepsis: p100017 (systolic 83 at ICULOS 2), p100001 and p100010 (never <= 90).
PATIENTS = ("p100047", "p100072", "p100049", "p100055", "p100017", "p100001", "p100010")
RULE = """\
rules:
  - id: systolic-90
    description: Systolic pressure of 90 mmHg or less (NEWS2 systolic score 3).
    source: Royal College of Physicians, NEWS2 (2017), chart 1
    kind: news2
    parameter: systolic
    min_score: 3
    clear_after: 5m
    cooldown: 30m
    severity: high
    summary: "Systolic {value:.0f} mmHg"
"""


@pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data (PhysioNet 2019)")
def test_backtest_over_physionet2019_reports_sepsis_figures(tmp_path: Path) -> None:
    stays, rules = tmp_path / "stays", tmp_path / "rules"
    stays.mkdir()
    rules.mkdir()
    for patient in PATIENTS:
        (stays / f"{patient}.psv").symlink_to(DATA / f"{patient}.psv")
    (rules / "systolic.yaml").write_text(RULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALWATCH_")}
    env.update(VITALWATCH_LOG_FORMAT="json", VITALWATCH_STATE_DIR=str(tmp_path / "state"))
    result = subprocess.run(
        [sys.executable, "-m", "vitalwatch", "backtest", "--input", str(stays),
         "--rules", str(rules), "--format", "json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(result.stdout)
    assert row["rule"] == "systolic-90"
    assert row["sepsis_alerted_before_label_share"] == 0.5  # p100047, p100072
    assert row["median_lead_h"] == 21.0  # of 19 and 23 h
    assert row["non_sepsis_alerted_share"] == pytest.approx(1 / 3)  # p100017
    assert row["patients_alerted_share"] == pytest.approx(3 / 7)
    assert "survivors_alerted_share" not in row
