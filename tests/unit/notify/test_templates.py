"""Templates per receiver kind carry what a clinician needs."""

from vitalwatch.notify.config.templates import ADVISORY, Context, render

from .harness import alert

CONTEXT = Context(
    "firing",
    {"tachycardia-sustained": "Pulse of 131/min or more for 60 s."},
    lambda alert_id: f"https://vw/ack/{alert_id}",
)


def test_rich_has_patient_bed_ward_rule_description_values_onset_and_ack_link() -> None:
    a = alert()
    title, body = render("rich", [a], CONTEXT)
    assert title == "[HIGH] firing: tachycardia-sustained"
    for expected in (
        "Patient P-0042, bed 12, ward ICU-A",
        "Rule tachycardia-sustained: Pulse of 131/min or more for 60 s.",
        "Onset 2026-11-25T14:00:00.000Z; detected 2026-11-25T14:01:00.000Z; values: bpm 142",
        f"Alert id {a.alert_id}",
        f"Acknowledge: https://vw/ack/{a.alert_id}",
        ADVISORY,
    ):
        assert expected in body


def test_short_is_one_line_without_the_patient_id() -> None:
    a, b = alert(), alert(rule="map-below-65")
    _, body = render("short", [a, b], CONTEXT)
    assert "\n" not in body and len(body) < 200
    assert "P-0042" not in body
    assert body.startswith("firing: bed 12 ICU-A tachycardia-sustained bpm 142 (+1 more)")
    assert f"ack https://vw/ack/{a.alert_id}" in body
