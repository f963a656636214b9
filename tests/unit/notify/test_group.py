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
