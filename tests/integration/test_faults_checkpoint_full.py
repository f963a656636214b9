"""The Spark checkpoint's filesystem full under a running ``vitalwatch run`` (issue 17, item 6):
the checkpoint directory on a small tmpfs of its own, filled up while a patient's readings
arrive, then given space again.

Expect: the micro-batch fails; a technical alarm (``query.failed`` waiting for the checkpoint,
and ``dependency.down`` naming the directory that refuses writes);
``vitalwatch_dependency_up{dependency="checkpoint"}`` 0 and /readyz not ready; the daemon up and
not spending its restarts; once there is space, the query restarts by itself from its
checkpoint, every reading is counted and the patient is notified exactly once. (A read-only
checkpoint is in test_faults_stream.py.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    Daemon,
    metric_sum,
    run_settings,
    scrape,
    serve_webhook,
    settings_env,
)
from tests.integration.filesystems import fill, mounted, tmpfs
from tests.integration.scenario import tachycardia_rule_only, wait_for_readings, warm_up
from tests.integration.stream_faults import (
    event_after,
    events_after,
    notified_patients,
    published_readings,
    tachycardia,
    technical_alerts_after,
    wait_for_notified,
)
from tests.integration.test_faults_stream import readyz
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.simulate.messages import publish
from vitalwatch.stream.job import QUERY_NAME

pytestmark = pytest.mark.integration

FULL_S = 10  # how long the checkpoint's filesystem stays full
MAX_FAILURES = 3  # failures counted while the disk is full would end the daemon in ~2 s


def test_a_full_checkpoint_filesystem_is_an_alarm_and_the_query_resumes_once_it_has_space(
    kafka: LocalBroker, tmp_path: Path
) -> None:
    settings = run_settings(kafka, tmp_path)
    settings.rules.directory = tachycardia_rule_only(tmp_path / "rules")
    with mounted(settings.checkpoint_dir, *tmpfs("64m")), serve_webhook() as webhook:
        env = settings_env(settings, [webhook.url])
        env.update(
            VITALWATCH_SUPERVISOR__RESTART_BACKOFF="500ms",
            VITALWATCH_SUPERVISOR__MAX_FAILURES=str(MAX_FAILURES),
        )
        daemon = Daemon(env, tmp_path / "daemon.log")
        try:
            daemon.wait_for_event("daemon.ready", timeout=180)
            warm_up(settings)
            checkpoint = settings.checkpoint_dir / QUERY_NAME
            mark = len(daemon.events)
            filler = fill(settings.checkpoint_dir)
            started = time.monotonic()
            publish(tachycardia("P-0501", int(time.time() * 1000) - 80_000), settings, speed=0)
            failed = event_after(daemon, "query.failed", mark, timeout=60)
            print(f"query.failed: {failed['error']}; waiting for {failed.get('waiting_for')}")
            assert str(checkpoint) in str(failed["waiting_for"]["checkpoint"]), failed
            down = event_after(daemon, "dependency.down", mark, timeout=30)
            assert down["component"] == "checkpoint" and str(checkpoint) in down["detail"]
            assert "No space left" in down["detail"], down
            status, body = readyz(settings)
            assert status == 503 and "checkpoint" in body["failed"], body
            samples = scrape(settings)
            assert metric_sum(samples, "vitalwatch_dependency_up", dependency="checkpoint") == 0
            time.sleep(max(0.0, FULL_S - (time.monotonic() - started)))
            assert daemon.process.poll() is None
            assert "query.restarted" not in events_after(daemon, mark)
            filler.unlink()

            event_after(daemon, "query.restarted", mark, timeout=60)
            back = event_after(daemon, "dependency.back", mark, timeout=30)
            assert back["dependency"] == "checkpoint"
            wait_for_notified(webhook, "P-0501", timeout=90)
            wait_for_readings(settings, published_readings(settings), timeout=60)
            time.sleep(6)  # group_wait 5 s: a second notification, if any, would be here by now
            assert notified_patients(webhook) == {"P-0501": 1}
            samples = scrape(settings)
            processed = metric_sum(samples, "vitalwatch_readings_total")
            assert processed == published_readings(settings)
            raised = technical_alerts_after(daemon, mark)
            failures = [e for e in raised if e != "query.stalled"]
            assert sorted(failures) == ["dependency.down", "query.failed"], raised
            assert metric_sum(samples, "vitalwatch_technical_alerts_total") >= len(failures)
            assert "query.gave_up" not in events_after(daemon, mark)
            assert daemon.stop() == 0
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(30)
