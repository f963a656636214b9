"""The ends of a ``kafka:FROM..TO`` backtest range, as Spark Kafka source options."""

import pytest

from vitalwatch.backtest.run import _kafka_bound
from vitalwatch.errors import ConfigError


def test_range_ends() -> None:
    assert _kafka_bound("", "earliest") == ("Offsets", "earliest")
    assert _kafka_bound("latest", "earliest") == ("Offsets", "latest")
    assert _kafka_bound("1795615200000", "latest") == ("Timestamp", "1795615200000")
    assert _kafka_bound("2026-11-25T14:00:00+00:00", "latest") == ("Timestamp", "1795615200000")


def test_a_bad_end_says_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match="earliest, latest, epoch ms or an ISO-8601 time"):
        _kafka_bound("yesterday", "latest")
