"""The episode lifecycle every condition kind shares: re-notification and latching."""

from vitalwatch.contracts.alerts import AlertState

from .helpers import PATIENT, hr, run, tachycardia


def steady(start: int, end: int, bpm: float) -> list:
    return [hr(t, bpm) for t in range(start, end + 1)]


def test_renotifies_every_interval_while_the_breach_continues() -> None:
    rule = tachycardia(renotify="2m")
    alerts = run(rule, steady(0, 400, 140))
    assert alerts == [("firing", 0, 60), ("renotified", 0, 180), ("renotified", 0, 300)]


def test_renotifications_are_numbered_and_delivered_once_each() -> None:
    rule = tachycardia(renotify="2m")
    state: dict = {}
    keys = []
    for reading in steady(0, 400, 140):
        state, alerts = rule.step(state, reading, PATIENT)
        keys += [(a.alert_id, a.delivery_key) for a in alerts]
    assert [k for _, k in keys] == ["firing", "renotified#1", "renotified#2"]
    assert len({alert_id for alert_id, _ in keys}) == 1  # one episode, one id


def test_no_renotification_once_readings_are_normal_and_none_without_renotify() -> None:
    # Normal from 101 s: no re-notification at 180 s; resolved after 5 min of normal readings.
    readings = steady(0, 100, 140) + steady(101, 450, 90)
    assert run(tachycardia(renotify="2m", clear_after="5m"), readings) == [
        ("firing", 0, 60),
        ("resolved", 0, 401),
    ]
    assert run(tachycardia(), steady(0, 400, 140)) == [("firing", 0, 60)]


def test_a_latching_rule_marks_its_alerts_latching() -> None:
    state: dict = {}
    seen = []
    for reading in steady(0, 70, 140) + steady(71, 80, 90):
        state, alerts = tachycardia(latch=True).step(state, reading, PATIENT)
        seen += [(a.state, a.latching) for a in alerts]
    assert seen == [(AlertState.FIRING, True), (AlertState.RESOLVED, True)]
    _, alerts = tachycardia(**{"for": "0s"}).step({}, hr(0, 140), PATIENT)
    assert [a.latching for a in alerts] == [False]
