"""Readings contract version 2: a topic and checked fields per signal."""

from __future__ import annotations

from vitalwatch.contracts.readings import (
    ACVPU_LEVELS,
    POSSIBLE_RANGE,
    REQUIRED_FIELDS,
    SIGNAL_FIELDS,
    Signal,
)
from vitalwatch.settings import TopicSettings


def test_version_1_signals_keep_their_place_in_the_state() -> None:
    # The stream's state keeps a column per signal in this order: state written by version 1
    # (two signals) reads back only if they stay first, in their order.
    assert [s.value for s in Signal][:2] == ["blood_pressure", "heart_rate"]


def test_every_signal_has_a_topic_setting_and_ranges_for_its_numbers() -> None:
    topics = TopicSettings()
    for signal in Signal:
        assert getattr(topics, signal.value) == f"vitals.{signal.value}"
        assert REQUIRED_FIELDS[signal]
    assert set(POSSIBLE_RANGE) == {f for fields in SIGNAL_FIELDS.values() for f in fields}
    assert {k: POSSIBLE_RANGE[k] for k in ("spo2", "rate", "celsius")} == {
        "spo2": (0.0, 100.0),
        "rate": (0.0, 150.0),
        "celsius": (10.0, 47.0),
    }
    assert ACVPU_LEVELS == ("A", "C", "V", "P", "U")
