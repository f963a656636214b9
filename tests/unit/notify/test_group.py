"""Grouping timing as in Alertmanager: group_wait, group_interval, repeat_interval."""

from vitalwatch.notify.stages.group import Flush, Grouper, Timing

TIMING = Timing(wait_ms=10_000, interval_ms=60_000, repeat_ms=600_000)


def test_group_wait_collects_a_burst() -> None:
    g = Grouper()
    for i, at in enumerate([0, 3, 9.9]):
        g.offer("p1", f"a{i}", TIMING, at)
    assert g.due(9.9) == []
    assert g.due(10) == [("p1", Flush.NEW, frozenset({"a0", "a1", "a2"}))]


def test_after_a_flush_new_alerts_wait_for_group_interval() -> None:
    g = Grouper()
    g.offer("p1", "a", TIMING, 0)
    g.flushed("p1", 10)
    g.offer("p1", "b", TIMING, 15)
    assert g.due(69) == []
    assert g.due(70) == [("p1", Flush.NEW, frozenset({"b"}))]


def test_a_burst_after_a_quiet_spell_still_waits_group_wait() -> None:
    g = Grouper()
    g.offer("p1", "a", TIMING, 0)
    g.flushed("p1", 10)
    g.offer("p1", "b", TIMING, 500)
    assert g.due(505) == []
    assert g.due(510) == [("p1", Flush.NEW, frozenset({"b"}))]


def test_repeat_after_repeat_interval_with_nothing_new_and_never_when_zero() -> None:
    g = Grouper()
    g.offer("p1", "a", TIMING, 0)
    g.flushed("p1", 10)
    assert g.due(609) == []
    assert g.due(610) == [("p1", Flush.REPEAT, frozenset())]
    g.offer("p2", "c", Timing(0, 0, 0), 0)
    g.flushed("p2", 0)
    assert [k for k, _, _ in g.due(10**6)] == ["p1"]


def test_groups_are_independent_and_forgettable() -> None:
    g = Grouper()
    g.offer("p1", "a", TIMING, 0)
    g.offer("p2", "b", TIMING, 5)
    assert [k for k, _, _ in g.due(10)] == ["p1"]
    g.forget("p1")
    assert g.keys() == ["p2"]


def test_an_alert_more_severe_than_any_the_group_announced_does_not_wait_for_the_fold() -> None:
    medium, high = (Timing(0, 60_000, 600_000, escalation=rank) for rank in (1, 2))
    g = Grouper()
    g.offer("p1", "urgent", medium, 0)
    g.flushed("p1", 0)
    g.offer("p1", "urgent-again", medium, 5)  # as severe as what went: folded
    assert g.due(5) == []
    g.offer("p1", "emergency", high, 10)  # more severe: at once, taking the other along
    assert g.due(10) == [("p1", Flush.NEW, frozenset({"urgent-again", "emergency"}))]
    g.flushed("p1", 10)
    g.offer("p1", "emergency-2", high, 20)  # high was announced: folded again
    assert g.due(69) == []
    assert g.due(70) == [("p1", Flush.NEW, frozenset({"emergency-2"}))]


def test_a_resolution_or_a_reminder_never_escalates() -> None:
    g = Grouper()
    g.offer("p1", "a", Timing(0, 60_000, 0, escalation=0), 0)
    g.flushed("p1", 0)
    g.offer("p1", "b", Timing(0, 60_000, 0), 1)  # not news: NOT_NEWS
    assert g.due(59) == []
    assert g.due(60) == [("p1", Flush.NEW, frozenset({"b"}))]
