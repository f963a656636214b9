import json

from vitalwatch.backtest.report import DAY_MS, as_csv, as_json, as_table, figures

HOUR = 3_600_000


def alert(rule, patient, state, onset, detected):
    return {"rule_id": rule, "patient_id": patient,
            "state": state, "onset_ms": onset, "detected_ms": detected}  # fmt: skip


def test_figures_per_rule() -> None:
    spans = {"A": (0, DAY_MS), "B": (0, DAY_MS), "C": (0, 2 * DAY_MS), "D": (0, 0)}
    alerts = [
        alert("r1", "A", "firing", 0, 60_000),
        alert("r1", "A", "resolved", 0, 30 * 60_000),
        alert("r1", "A", "firing", 2 * HOUR, 2 * HOUR),  # a second cycle: flapping 1
        alert("r1", "B", "firing", 0, 0),
        alert("r1", "B", "resolved", 0, 10 * 60_000),
        alert("r2", "C", "firing", 0, 0),
    ]
    died = {"A": True, "B": False, "C": False, "D": True, "not-in-backtest": True}
    r1, r2, r3 = figures(alerts, ["r1", "r2", "r3"], spans, died)
    assert (r1.alerts, r1.flapping, r1.patients_alerted_share) == (3, 1, 0.5)
    assert r1.alerts_per_patient_day == 3 / 4
    assert r1.median_duration_min == 20.0
    assert (r1.non_survivors_alerted_share, r1.survivors_alerted_share) == (0.5, 0.5)
    assert (r2.alerts, r2.median_duration_min, r2.survivors_alerted_share) == (1, None, 0.5)
    assert (r3.alerts, r3.patients_alerted_share) == (0, 0.0)


def test_outputs() -> None:
    rows = figures([alert("r1", "A", "firing", 0, 0)], ["r1"], {"A": (0, DAY_MS)})
    assert json.loads(as_json(rows))[0]["alerts"] == 1
    assert as_csv(rows).splitlines()[0].startswith("rule,alerts,")
    table = as_table(rows, "title")
    assert table.splitlines()[0] == "title" and "r1" in table.splitlines()[2]
