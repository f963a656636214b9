"""The comparison of the Spark job's alerts with the Quix Streams peer's."""

from __future__ import annotations

from typing import Any

from bench.alert_match import compare_alerts


def _alert(alert_id: str, state: str, **changes: Any) -> dict[str, Any]:
    message = {
        "alert_id": alert_id, "state": state, "repeat": 0, "rule_id": "tachycardia-sustained",
        "patient_id": "P-0001", "severity": "high", "onset_ms": 1_000, "detected_ms": 61_000,
        "values": {"bpm": 140.0}, "summary": "HR 140/min", "labels": {}, "latching": False,
        "emitted": "2026-11-26T05:00:00.000Z", "version": 2,
    }  # fmt: skip
    message.update(changes)
    return message


def test_the_same_alerts_written_at_other_times_are_the_same() -> None:
    job = [_alert("a", "firing"), _alert("a", "resolved", detected_ms=90_000)]
    peer = [
        _alert("a", "resolved", detected_ms=90_000, emitted="2026-11-26T05:09:00.000Z"),
        _alert("a", "firing", emitted="2026-11-26T05:08:00.000Z"),
    ]
    comparison = compare_alerts(job, peer)
    assert comparison.same
    assert comparison.matched == 2
    assert comparison.summary() == "same 2 alert messages (tachycardia-sustained 2)"


def test_a_missing_resolve_an_extra_alert_and_another_value_are_each_named() -> None:
    job = [_alert("a", "firing"), _alert("a", "resolved"), _alert("b", "firing")]
    peer = [_alert("a", "firing"), _alert("b", "firing", values={"bpm": 141.0}),
            _alert("c", "firing")]  # fmt: skip
    comparison = compare_alerts(job, peer)
    assert not comparison.same
    assert comparison.matched == 1
    assert comparison.only_job == [("a", "resolved", 0)]
    assert comparison.only_peer == [("c", "firing", 0)]
    assert comparison.differing == [("b", "firing", 0)]
    assert "1 only from the job, 1 only from the peer, 1 differing" in comparison.summary()


def test_renotifications_are_told_apart_by_their_repeat_and_redeliveries_counted() -> None:
    job = [_alert("a", "renotified", repeat=1), _alert("a", "renotified", repeat=2)]
    peer = [_alert("a", "renotified", repeat=1), _alert("a", "renotified", repeat=1)]
    comparison = compare_alerts(job, peer)
    assert comparison.only_job == [("a", "renotified", 2)]
    assert comparison.duplicates == 1
