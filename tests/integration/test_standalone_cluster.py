"""The same daemon on a real Spark standalone cluster (a master, two workers) with settings
only, against input topics with four partitions: alerts come out, notified once each. Prints
the throughput for the closing note (the same measurement on ``local[*]`` is in the README)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.integration.conftest import Daemon, metric_sum, scrape, settings_env
from tests.integration.scenario import (
    processed,
    tachycardia_rule_only,
    wait_for_readings,
    wait_until_idle,
    warm_up,
)
from tests.integration.standalone import standalone_cluster
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard

pytestmark = pytest.mark.integration

PARTITIONS = 4


def throughput(settings: Settings, patients: int, seconds: int) -> tuple[int, float]:
    """Publish a ward's readings as fast as possible; (published, per second from the start of
    publishing until every one of them is counted as processed: ok, invalid or late)."""
    ward = SyntheticWard(patients=patients, duration_s=seconds,
                         start_ms=int(time.time() * 1000), bp_interval_s=60)  # fmt: skip
    before = processed(settings)
    started = time.monotonic()
    published = publish(ward.messages(), settings, speed=0)
    wait_for_readings(settings, before + published, timeout=300)  # none lost
    return published, published / (time.monotonic() - started)


def test_the_job_runs_on_a_standalone_cluster(settings, webhook, java, tmp_path: Path) -> None:
    settings.rules.directory = tachycardia_rule_only(tmp_path / "rules")
    with standalone_cluster(java, tmp_path / "cluster") as cluster:
        env = settings_env(settings, [webhook.url])
        env.update(
            VITALWATCH_SPARK__MASTER=cluster.master_url,
            VITALWATCH_SPARK__CONF=json.dumps({
                "spark.driver.host": "127.0.0.1", "spark.executor.memory": "512m",
                "spark.executor.cores": "1", "spark.cores.max": "2",
            }),
            VITALWATCH_SPARK__SHUFFLE_PARTITIONS=str(PARTITIONS),
            VITALWATCH_TOPICS__PARTITIONS=str(PARTITIONS),
        )  # fmt: skip
        daemon = Daemon(env, tmp_path / "daemon.log")
        try:
            daemon.wait_for_event("daemon.ready", timeout=240)
            warm_up(settings, timeout=240)
            apps = json.loads(urlopen(f"{cluster.web_url}/json/", timeout=5).read())["activeapps"]
            assert [a["name"] for a in apps] == ["vitalwatch"]
            assert len(cluster.alive_workers()) == 2

            ward = SyntheticWard(
                patients=8, duration_s=240, start_ms=int(time.time() * 1000), bp_interval_s=60,
                episodes=(
                    # To the end of the data: published at once, an episode that resolved
                    # too would fire and resolve within the notifier's group_wait.
                    Episode("tachycardia", patient=1, start_s=20, duration_s=220),
                    Episode("tachycardia", patient=5, start_s=60, duration_s=180),
                ),
            )  # fmt: skip
            publish(ward.messages(), settings, speed=0)
            notified = webhook.wait_for(2, timeout=180)
            wait_until_idle(settings)
            time.sleep(3)
            notified = list(webhook.received)
            patients = sorted(re.search(r"Patient (P-\d+)", n["message"]).group(1)
                              for n in notified)  # fmt: skip
            assert patients == ["P-0001", "P-0005"]
            samples = scrape(settings)
            assert metric_sum(samples, "vitalwatch_readings_total", outcome="ok") > 1500

            published, rate = throughput(settings, patients=20, seconds=600)
            print(f"standalone cluster (2 workers x 1 core): {published} readings, {rate:.0f}/s")
            assert daemon.stop(timeout=120) == 0
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(30)
