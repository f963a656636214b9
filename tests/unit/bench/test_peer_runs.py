"""A peer's figures from its processes', and the rows that show each peer beside the job."""

from __future__ import annotations

import pytest

from bench.__main__ import backlog_rows, target_rows
from bench.alert_match import compare_alerts
from bench.scenario import PEERS, combine_peer


def _process(
    count: int, first_s: float, last_s: float, mib: float, cpu_s: float
) -> dict[str, float]:
    return {"count": count, "first_s": first_s, "last_s": last_s, "alerts": 0, "dead": 0,
            "mib": mib, "cpu_s": cpu_s}  # fmt: skip


def test_one_process_reads_the_backlog_from_its_first_record_to_its_last() -> None:
    figures = combine_peer([_process(1001, 10.0, 20.0, 200, 12)], 1001, started=8.5)
    assert figures == {"rate": 100.0, "startup_s": 1.5, "mib": 200, "cpu_s": 12,
                       "read_twice": 0, "busiest": 1}  # fmt: skip


def test_processes_drain_together_from_the_first_record_of_any_to_the_last_of_any() -> None:
    # 1,002 records read for a backlog of 1,001: one read again after a rebalance; the third
    # process was given no partition.
    processes = [_process(600, 10.0, 14.0, 200, 5), _process(402, 11.0, 15.0, 190, 4),
                 _process(0, 0.0, 0.0, 120, 1)]  # fmt: skip
    figures = combine_peer(processes, 1001, started=9.0)
    assert figures == {"rate": 200.0, "startup_s": 1.0, "mib": 510, "cpu_s": 10, "read_twice": 1,
                       "busiest": 600 / 1002}  # fmt: skip


def test_a_peer_that_read_less_than_the_backlog_is_an_error() -> None:
    with pytest.raises(ValueError, match="read 999 records of 1,000"):
        combine_peer([_process(500, 1.0, 2.0, 1, 1), _process(499, 1.0, 2.0, 1, 1)], 1000, 0.0)


def test_the_table_and_the_targets_show_each_peer_with_the_job_s_ratio_to_it() -> None:
    run: dict[str, float] = {
        "ceiling": 90_000, "job": 6_000, "job/ceiling": 0.067, "driver_mib": 700,
        "workers_mib": 400, "driver_cpu_s": 30, "workers_cpu_s": 10, "job_cpu_per_k": 0.4,
        "startup_s": 2.5,
    }  # fmt: skip
    for peer, rate in zip(PEERS, (5_000, 8_000), strict=True):
        run |= {peer.name: rate, f"job/{peer.name}": 6_000 / rate, f"{peer.name}_mib": 200,
                f"{peer.name}_cpu_s": 12, f"{peer.name}_cpu_per_k": 0.12,
                f"{peer.name}_read_twice": 0, f"{peer.name}_busiest": 0.5,
                f"{peer.name}_startup_s": 1.5}  # fmt: skip
    scenario = {"patients": 10_000, "seconds": 10, "backlog": 100_000, "runs": [run]}
    comparisons = [{peer.name: compare_alerts([], []) for peer in PEERS}]
    rows = dict(backlog_rows(scenario, comparisons))
    one, cores = PEERS
    assert one.label == "Quix peer, one process"
    assert cores.label.endswith("processes (one per core)")
    assert rows[f"{one.label}, same rules"] == "5,000 (5,000 to 5,000) readings/s"
    assert rows[f"job / {one.label} (same run)"] == "1.20 (1.20 to 1.20)"
    assert rows[f"job / {cores.label} (same run)"] == "0.75 (0.75 to 0.75)"
    assert rows[f"{cores.label}: alerts vs the job's"] == "run 1: same 0 alert messages ()"
    resources = f"{cores.label}: peak RSS, CPU (summed over its processes); records read twice; "
    assert rows[resources + "the busiest process's share"] == (
        "200 (200 to 200) MiB, 12 (12 to 12) s; 0 (0 to 0); 50% (50% to 50%)"
    )
    startup = next(value for name, value in rows.items() if name.startswith("start-up"))
    assert startup == "2.5 (2.5 to 2.5) s / 1.5 (1.5 to 1.5) s / 1.5 (1.5 to 1.5) s"
    targets = target_rows([scenario], {})
    assert "- 10,000 patients: >= 14,000 readings/s with all default rules: 6,000, **not met**" in (
        targets
    )
    assert (
        f"- 10,000 patients: CPU per reading at most x1.5 the {one.label}'s: x3.33, "
        "**not met**" in targets
    )
    assert f"- 10,000 patients: ahead on throughput of the {one.label}: x1.20, met" in targets
    assert (
        f"- 10,000 patients: ahead on throughput of the {cores.label}: x0.75, **not met**"
        in targets
    )
