"""Readings contract version 2: the pending signals beside, not inside, what the query reads."""

from __future__ import annotations

from vitalwatch.contracts.readings import (
    ACVPU_LEVELS,
    PENDING_FIELDS,
    PENDING_RANGE,
    POSSIBLE_RANGE,
    SIGNAL_FIELDS,
    PendingSignal,
    Signal,
)
from vitalwatch.settings import TopicSettings


def test_the_query_still_reads_heart_rate_and_blood_pressure_only() -> None:
    # The query iterates Signal and encodes a signal as its index: a pending signal added to it
    # would change the running query (its state layout and metrics).
    assert [s.value for s in Signal] == ["heart_rate", "blood_pressure"]
    assert set(POSSIBLE_RANGE) == {f for fields in SIGNAL_FIELDS.values() for f in fields}


def test_every_pending_signal_has_a_topic_setting_and_ranges_for_its_fields() -> None:
    topics = TopicSettings()
    assert {s.value for s in PendingSignal}.isdisjoint(s.value for s in Signal)
    for signal in PendingSignal:
        assert getattr(topics, signal.value) == f"vitals.{signal.value}"
        assert all(field in PENDING_RANGE for field in PENDING_FIELDS[signal])
    assert PENDING_RANGE == {"spo2": (0.0, 100.0), "rate": (0.0, 150.0), "celsius": (10.0, 47.0)}
    assert ACVPU_LEVELS == ("A", "C", "V", "P", "U")
