"""A peer's figures from its processes'."""

from __future__ import annotations

import pytest

from bench.scenario import combine_peer


def _process(
    count: int, first_s: float, last_s: float, mib: float, cpu_s: float
) -> dict[str, float]:
    return {"count": count, "first_s": first_s, "last_s": last_s, "alerts": 0, "dead": 0,
            "mib": mib, "cpu_s": cpu_s}  # fmt: skip


def test_one_process_reads_the_backlog_from_its_first_record_to_its_last() -> None:
    figures = combine_peer([_process(1001, 10.0, 20.0, 200, 12)], 1001)
    assert figures == {"rate": 100.0, "mib": 200, "cpu_s": 12, "read_twice": 0, "busiest": 1}


def test_processes_drain_together_from_the_first_record_of_any_to_the_last_of_any() -> None:
    # 1,002 records read for a backlog of 1,001: one read again after a rebalance; the third
    # process was given no partition.
    processes = [_process(600, 10.0, 14.0, 200, 5), _process(402, 11.0, 15.0, 190, 4),
                 _process(0, 0.0, 0.0, 120, 1)]  # fmt: skip
    figures = combine_peer(processes, 1001)
    assert figures == {"rate": 200.0, "mib": 510, "cpu_s": 10, "read_twice": 1,
                       "busiest": 600 / 1002}  # fmt: skip


def test_a_peer_that_read_less_than_the_backlog_is_an_error() -> None:
    with pytest.raises(ValueError, match="read 999 records of 1,000"):
        combine_peer([_process(500, 1.0, 2.0, 1, 1), _process(499, 1.0, 2.0, 1, 1)], 1000)
