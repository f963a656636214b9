"""Stop the daemon mid-stream and start it again: no alert lost, none notified twice; a backlog
left by downtime is read in bounded micro-batches."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest

from tests.integration.scenario import (
    processed,
    publish_in_background,
    tachycardia_rule_only,
    two_episodes_to_the_end,
    wait_until_idle,
    warm_up,
)
from vitalwatch.kafka_clients import ensure_topics
from vitalwatch.settings import SparkSettings
from vitalwatch.simulate.messages import publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard
from vitalwatch.stream.job import QUERY_NAME

pytestmark = pytest.mark.integration


def test_restart_mid_stream_loses_no_alert_and_duplicates_none(
    settings, start_daemon, webhook, tmp_path
) -> None:
    settings.rules.directory = tachycardia_rule_only(tmp_path / "rules")  # no no-data alerts
    first = start_daemon([webhook.url])
    first.wait_for_event("daemon.ready", timeout=180)
    warm_up(settings)
    publisher, _ = publish_in_background(two_episodes_to_the_end(), settings)

    webhook.wait_for(1, timeout=90)
    # Ctrl-C (SIGINT) while P-0002's episode is still being published: drains as SIGTERM does.
    assert first.stop(signum=signal.SIGINT) == 0
    assert first.wait_for_event("daemon.stopped", timeout=1)["exit_code"] == 0
    stopped_at = time.time()
    second = start_daemon([webhook.url])
    second.wait_for_event("daemon.ready", timeout=180)
    print(f"daemon down for {time.time() - stopped_at:.1f} s")

    publisher.join(60)
    webhook.wait_for(2, timeout=120)
    wait_until_idle(settings)
    time.sleep(3)  # a duplicate, if any, would have been delivered by now
    notifications = list(webhook.received)
    patients = sorted(re.search(r"Patient (P-\d+)", n["message"]).group(1) for n in notifications)
    assert patients == ["P-0001", "P-0002"]
    alert_ids = {re.search(r"Alert id (\S+)", n["message"]).group(1) for n in notifications}
    assert len(alert_ids) == 2
    assert second.stop() == 0


def records_per_batch(checkpoint: Path) -> list[int]:
    """Kafka records each micro-batch read, from the query's offset log (Spark's write-ahead log:
    per batch a version line, its metadata, then the end offsets of the one Kafka source)."""
    ends = [
        json.loads((checkpoint / "offsets" / str(batch)).read_text().splitlines()[2])
        for batch in sorted(int(p.name) for p in (checkpoint / "offsets").glob("[0-9]*"))
    ]
    counts, before = [], {}
    for end in ends:
        flat = {(t, p): o for t, parts in end.items() for p, o in parts.items()}
        counts.append(sum(o - before.get(tp, 0) for tp, o in flat.items()))
        before = flat
    return counts


def test_a_backlog_left_by_downtime_is_read_in_bounded_batches(
    settings, start_daemon, webhook, tmp_path
) -> None:
    """Ten minutes of 200 patients published while no daemon runs (122,000 readings): the daemon
    reads them in batches of at most ``spark.max_offsets_per_trigger`` (its default), each
    committed and reported, and notifies the tachycardia they hold."""
    settings.rules.directory = tachycardia_rule_only(tmp_path / "rules")
    episode = Episode("tachycardia", patient=1, start_s=300, duration_s=300)
    ward = SyntheticWard(
        patients=200, duration_s=600, start_ms=int(time.time() * 1000) - 600_000,
        bp_interval_s=60, episodes=(episode,),
    )  # fmt: skip
    ensure_topics(settings)
    published = publish(ward.messages(), settings, speed=0)
    cap = SparkSettings().max_offsets_per_trigger
    assert cap is not None and published > 2 * cap

    daemon = start_daemon([webhook.url])
    (notified,) = webhook.wait_for(1, timeout=300)
    assert "Patient P-0001" in notified["message"]
    wait_until_idle(settings)
    assert processed(settings) == published

    per_batch = records_per_batch(settings.checkpoint_dir / QUERY_NAME)
    print(f"{published} readings read in batches of {per_batch}")
    assert max(per_batch) <= cap
    assert sum(per_batch) >= published  # the heartbeat's ticks are records too
    assert daemon.stop() == 0
