import json
from html.parser import HTMLParser

from vitalwatch.backtest.html import episodes_of, report
from vitalwatch.backtest.report import figures
from vitalwatch.backtest.run import patient_series

ALERTS = [
    {"rule_id": "map-below-65", "patient_id": "P<1>", "state": "firing",
     "onset_ms": 3_600_000, "detected_ms": 3_900_000},
    {"rule_id": "map-below-65", "patient_id": "P<1>", "state": "resolved",
     "onset_ms": 3_600_000, "detected_ms": 7_200_000},
    {"rule_id": "systolic-falling", "patient_id": "P<1>", "state": "firing",
     "onset_ms": 0, "detected_ms": 600_000},
]  # fmt: skip


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


def test_episodes_pair_firing_with_resolved() -> None:
    assert episodes_of(ALERTS, "P<1>") == [
        ("map-below-65", 3_600_000, 7_200_000),
        ("systolic-falling", 0, None),
    ]


def test_report_is_self_contained_with_charts_and_escaped_names() -> None:
    records = [
        (b"P<1>", json.dumps({"ts": t, "bpm": 80 + t / 1e6}).encode(), "hr", 0, 0, None)
        for t in range(0, 10_800_000, 600_000)
    ] + [(b"P<1>", json.dumps({"ts": 0, "systolic": 120, "mean": 80}).encode(), "bp", 0, 0, None)]
    series = patient_series(records, "P<1>")
    assert len(series["heart rate"]) == 18 and series["MAP"] == [(0, 80.0)]
    spans = {"P<1>": (0, 10_800_000)}
    runs = {
        "rules": figures(ALERTS, ["map-below-65", "systolic-falling"], spans),
        "candidate": figures(ALERTS[:2], ["map-below-65", "systolic-falling"], spans),
    }
    page = report("backtest", runs, "P<1>", series, episodes_of(ALERTS, "P<1>"))
    parser = Tags()
    parser.feed(page)
    assert parser.tags.count("svg") == 2 and parser.tags.count("table") == 2
    assert (
        "polyline" in parser.tags
        and "<script" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert "P&lt;1&gt;" in page and "P<1>" not in page
    assert "map-below-65" in page and "candidate" in page
