"""The live latency ward: its tachycardia episodes start spread evenly over 30 seconds."""

from __future__ import annotations

from collections import Counter

from bench.latency import ward


def test_episodes_start_in_every_one_of_the_30_seconds_as_many_in_each() -> None:
    episodes = ward(10_000, 200, start_ms=0).episodes

    assert len(episodes) == 1_000
    starts = Counter(episode.start_s for episode in episodes)
    assert sorted(starts) == [100 + second for second in range(30)]
    assert max(starts.values()) - min(starts.values()) <= 1
