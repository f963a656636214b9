"""Faults on the streaming side (issue #6), each against the real processes, each stating what
must hold: no reading lost without a count, no alert lost, no notification twice to a receiver,
a technical alert where clinicians could be affected, and recovery without a human.

One daemon run (``run``), on a broker of its own (one test stops it; the session's broker
serves other tests), serves four faults in order, each with its own tachycardic patients: the
broker down for 30 s, a Spark Python worker killed mid-batch, the checkpoint made read-only,
then the daemon SIGKILLed mid-batch and started again; the readings of the whole run are counted
at the end. A ``hold`` rule (``faults.py``) keeps a micro-batch open, so a kill lands inside it.

Already elsewhere: a batch failing inside the query, and repeated failures (test_service.py);
SIGTERM mid-stream (test_restart.py); SIGKILL mid-delivery (test_notify_crash.py); invalid rules
mid-run (test_rule_reload.py); every feed silent (test_all_feeds_silent.py).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from tests.integration.conftest import (
    Daemon,
    Webhook,
    metric_sum,
    run_settings,
    scrape,
    serve_webhook,
)
from tests.integration.faults import (
    HOLD_BPM,
    fault_messages,
    held_worker,
    hold_rule,
    install_fault_kind,
    service_env,
)
from tests.integration.scenario import tachycardia_rule_only, wait_until_idle, warm_up
from tests.integration.stream_faults import (
    event_after,
    events_after,
    malformed,
    notified_patients,
    published_readings,
    read_only,
    reading_counts,
    spark_python_workers,
    tachycardia,
    technical_alerts_after,
    wait_for_notified,
)
from vitalwatch.contracts.readings import Signal
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.kafka_clients import make_producer
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard
from vitalwatch.stream.job import QUERY_NAME

pytestmark = pytest.mark.integration

HOLD_S = 60  # longer than any kill takes to land; the re-run batch does not hold
MAX_FAILURES = 3  # a read-only checkpoint counted as failures would end the daemon in ~2 s


def readyz(settings: Settings) -> tuple[int, dict]:
    try:
        with urlopen(f"http://127.0.0.1:{settings.http.port}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class Run:
    broker: LocalBroker
    settings: Settings
    env: dict[str, str]
    webhook: Webhook
    root: Path
    daemon: Daemon

    @property
    def flag(self) -> Path:
        return self.root / "hold-next-batch"

    @property
    def marker(self) -> Path:
        return self.root / "held-by-worker"

    def publish_held(self, messages: list[Message]) -> int:
        """Publish ``messages`` with the reading that makes the ``hold`` rule hold its batch;
        returns the pid of the Python worker holding it."""
        self.flag.touch()
        publish([*messages, *fault_messages(HOLD_BPM)], self.settings, speed=0)
        return held_worker(self.marker, timeout=60)


@pytest.fixture(scope="module")
def run(own_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("faults")
    settings = run_settings(own_broker, root)
    settings.rules.directory = tachycardia_rule_only(root / "rules")
    (settings.rules.directory / "hold.yaml").write_text(
        hold_rule(root / "hold-next-batch", root / "held-by-worker", HOLD_S)
    )
    with serve_webhook() as webhook:
        env = service_env(
            settings, [webhook.url], install_fault_kind(root / "plugin"),
            VITALWATCH_SUPERVISOR__RESTART_BACKOFF="500ms",
            VITALWATCH_SUPERVISOR__MAX_FAILURES=str(MAX_FAILURES),
        )  # fmt: skip
        daemon = Daemon(env, root / "daemon.log")
        state = Run(own_broker, settings, env, webhook, root, daemon)
        try:
            daemon.wait_for_event("daemon.ready", timeout=180)
            warm_up(settings)
            yield state
        finally:
            if state.daemon.process.poll() is None:
                state.daemon.process.kill()
                state.daemon.process.wait(30)


class RetryingProducer:
    """A gateway's producer: paced, keeps retrying through an outage (librdkafka's default
    message timeout is 5 minutes), and counts what the broker acknowledged."""

    def __init__(self, settings: Settings) -> None:
        self._producer = make_producer(settings)
        self._topics = {
            Signal.HEART_RATE: settings.topics.heart_rate,
            Signal.BLOOD_PRESSURE: settings.topics.blood_pressure,
        }
        self.acknowledged = self.failed = 0

    def _delivered(self, error: object, message: object) -> None:
        if error is None:
            self.acknowledged += 1
        else:
            self.failed += 1

    def publish(self, messages: list[Message], speed: float) -> None:
        started = time.monotonic()
        for message in messages:
            time.sleep(max(0.0, started + message.offset_ms / 1000 / speed - time.monotonic()))
            self._producer.produce(
                self._topics[message.signal], key=message.key, value=message.value,
                timestamp=message.timestamp_ms or 0,  # the simulated clock runs 4x the wall's
                on_delivery=self._delivered,
            )  # fmt: skip
            self._producer.poll(0)
        assert self._producer.flush(240) == 0


def test_a_broker_down_for_30_s_is_an_alarm_and_every_reading_and_alert_goes_through(
    run: Run,
) -> None:
    """The broker stopped for 30 s and started again (same data directory, topics kept) while a
    gateway publishes with retries. Expect: the daemon stays up; while the broker is down
    /readyz is not ready naming the broker, ``vitalwatch_dependency_up{dependency="broker"}`` is
    0 and a technical alert is raised (``dependency.down``); afterwards every reading the broker
    acknowledged is processed (the daemon's count equals the records on the topics), and each
    alert expected from the readings is notified exactly once."""
    settings, daemon, webhook = run.settings, run.daemon, run.webhook
    ward = SyntheticWard(
        patients=3, duration_s=200, start_ms=int(time.time() * 1000), bp_interval_s=60,
        episodes=(
            Episode("tachycardia", patient=1, start_s=0, duration_s=200),  # fires during the outage
            Episode("tachycardia", patient=2, start_s=100, duration_s=100),  # fires after it
        ),
    )  # fmt: skip
    producer = RetryingProducer(settings)
    publisher = threading.Thread(
        target=producer.publish, args=(list(ward.messages()), 4.0), daemon=True
    )  # 50 s
    publisher.start()
    time.sleep(5)
    mark = len(daemon.events)
    run.broker.stop()
    stopped = time.monotonic()
    down = event_after(daemon, "dependency.down", mark, timeout=30)
    assert down["component"] == "broker", down
    status, body = readyz(settings)
    assert status == 503 and "broker" in body["failed"], body
    assert metric_sum(scrape(settings), "vitalwatch_dependency_up", dependency="broker") == 0
    time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
    assert daemon.process.poll() is None
    run.broker.start()
    print(f"broker down for {time.monotonic() - stopped:.0f} s")

    # The gateway's producer resumes by itself, usually within seconds; once, in a CI run on
    # this 2-core machine, it had not finished 2 minutes after the restart (cause not found; the
    # run's logs were gone). librdkafka's message timeout, the bound that matters, is 5 min.
    restarted = time.monotonic()
    publisher.join(240)
    assert not publisher.is_alive() and producer.failed == 0
    print(f"publisher done {time.monotonic() - restarted:.0f} s after the restart")
    back = event_after(daemon, "dependency.back", mark, timeout=60)
    assert back["dependency"] == "broker"
    wait_for_notified(webhook, "P-0002", timeout=120)
    wait_until_idle(settings)
    time.sleep(6)  # a second notification, if any, would be here by now
    assert notified_patients(webhook) == {"P-0001": 1, "P-0002": 1}
    samples = scrape(settings)
    processed = metric_sum(samples, "vitalwatch_readings_total")
    assert processed == published_readings(settings) == producer.acknowledged + 1  # + warm-up
    assert metric_sum(samples, "vitalwatch_technical_alerts_total", component="broker") == 1
    assert readyz(settings)[0] == 200
    print("events during the outage:", sorted(set(events_after(daemon, mark))))


def test_a_killed_spark_python_worker_restarts_the_query_and_loses_no_alert(run: Run) -> None:
    """SIGKILL of the ``pyspark.daemon`` processes under the daemon's JVM while one of them runs
    a micro-batch (held open). Expect: the failure logged (``query.failed``) and counted as a
    technical alert (twice at most, see below), the query restarted from its checkpoint (Spark
    starts new workers) as often as it failed, the patient whose readings were in that batch
    notified exactly once, the daemon never down."""
    mark = len(run.daemon.events)
    before = scrape(run.settings)
    holder = run.publish_held(tachycardia("P-0301", int(time.time() * 1000) - 80_000))
    jvm, workers = spark_python_workers(run.daemon.process.pid)
    assert holder in workers, f"worker {holder} is not under the JVM {jvm}: {workers}"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)

    failed = event_after(run.daemon, "query.failed", mark, timeout=60)
    print(f"killed {len(workers)} Python processes; query.failed: {failed['error']}")
    event_after(run.daemon, "query.restarted", mark, timeout=60)
    wait_for_notified(run.webhook, "P-0301", timeout=90)
    time.sleep(6)  # group_wait 5 s: a second notification, if any, would be here by now
    assert notified_patients(run.webhook) == {"P-0001": 1, "P-0002": 1, "P-0301": 1}
    # A second failure (below) may come after the alert: wait for every failure's restart, so
    # that the counters are read, and the next test starts, with the query settled.
    settle_by = time.monotonic() + 60
    while time.monotonic() < settle_by:
        events = events_after(run.daemon, mark)
        if events.count("query.restarted") >= events.count("query.failed"):
            break
        time.sleep(0.5)
    samples = scrape(run.settings)
    raised = technical_alerts_after(run.daemon, mark)
    failures = [e for e in raised if e != "query.stalled"]
    # The restarted query's first batch may be handed a pooled connection to a killed worker
    # ("IOException: Stream closed", seen in CI): one more failed batch and restart, no more.
    assert failures in (["query.failed"], ["query.failed"] * 2), raised
    technical = "vitalwatch_technical_alerts_total"
    assert metric_sum(samples, technical) - metric_sum(before, technical) == len(raised)
    restarts = "vitalwatch_query_restarts_total"
    assert metric_sum(samples, restarts) - metric_sum(before, restarts) == len(failures)
    assert "SparkException" in failed["error"]
    assert set(workers).isdisjoint(spark_python_workers(run.daemon.process.pid)[1])


def test_a_read_only_checkpoint_is_an_alarm_and_the_query_resumes_once_it_is_writable(
    run: Run,
) -> None:
    """The checkpoint's ``offsets`` and ``commits`` directories refuse writes for 20 s (see
    ``read_only`` for how, as root) while a patient's readings arrive. Expect: the query's
    batch fails; a technical alert (``query.failed`` waiting for the checkpoint, and
    ``dependency.down``) naming the directory; /readyz not ready naming the checkpoint; the
    daemon up and not spending its restarts (with ``MAX_FAILURES`` counted failures it would
    exit); once writable, the query restarts by itself and the patient is notified once."""
    checkpoint = run.settings.checkpoint_dir / QUERY_NAME
    offsets = checkpoint / "offsets"
    mark = len(run.daemon.events)
    technical_before = metric_sum(scrape(run.settings), "vitalwatch_technical_alerts_total")
    with read_only([offsets, checkpoint / "commits"]) as how:
        started = time.monotonic()
        publish(tachycardia("P-0401", int(time.time() * 1000) - 80_000), run.settings, speed=0)
        failed = event_after(run.daemon, "query.failed", mark, timeout=30)
        assert str(offsets) in failed["waiting_for"]["checkpoint"], failed
        print(f"query.failed: {failed['error']}")
        assert failed["error"] != "unknown", failed  # the exception's type is named
        down = event_after(run.daemon, "dependency.down", mark, timeout=30)
        assert down["component"] == "checkpoint" and str(offsets) in down["detail"]
        status, body = readyz(run.settings)
        assert status == 503 and "checkpoint" in body["failed"], body
        assert str(offsets) in body["checks"]["checkpoint"]["detail"]
        samples = scrape(run.settings)
        assert metric_sum(samples, "vitalwatch_dependency_up", dependency="checkpoint") == 0
        time.sleep(max(0.0, 20 - (time.monotonic() - started)))
        assert run.daemon.process.poll() is None
        assert "query.restarted" not in events_after(run.daemon, mark)
    print(f"checkpoint made read-only with {how} for {time.monotonic() - started:.0f} s")

    event_after(run.daemon, "query.restarted", mark, timeout=30)
    back = event_after(run.daemon, "dependency.back", mark, timeout=30)
    assert back["dependency"] == "checkpoint"
    wait_for_notified(run.webhook, "P-0401", timeout=90)
    time.sleep(6)  # a second notification, if any, would be here by now
    assert notified_patients(run.webhook) == {"P-0001": 1, "P-0002": 1, "P-0301": 1, "P-0401": 1}
    assert readyz(run.settings)[0] == 200
    samples = scrape(run.settings)
    raised = technical_alerts_after(run.daemon, mark)
    assert sorted(e for e in raised if e != "query.stalled") == ["dependency.down", "query.failed"]
    technical = metric_sum(samples, "vitalwatch_technical_alerts_total")
    assert technical == technical_before + len(raised)
    assert metric_sum(samples, "vitalwatch_dependency_up", dependency="checkpoint") == 1
    assert "query.gave_up" not in events_after(run.daemon, mark)


def test_a_daemon_sigkilled_mid_batch_resumes_from_its_checkpoint(run: Run) -> None:
    """SIGKILL of ``vitalwatch run`` while a micro-batch (a tachycardic patient's readings and
    two malformed ones) is in progress, then a new daemon on the same checkpoint. Expect: the
    patient notified exactly once, and over the whole run (both processes) every reading on the
    topics counted once, as processed or dead-lettered: what the first daemon counted before
    the kill (completed batches only) plus what the second counted equals the records on the
    reading topics."""
    bad = malformed("P-0201")
    run.publish_held([*tachycardia("P-0201", int(time.time() * 1000) - 80_000), *bad])
    time.sleep(1)  # the listener's report of the batch before the held one has landed
    before = reading_counts(run.settings)
    run.daemon.process.kill()
    run.daemon.process.wait(30)

    run.daemon = Daemon(run.env, run.root / "daemon.log")
    run.daemon.wait_for_event("daemon.ready", timeout=180)
    wait_for_notified(run.webhook, "P-0201", timeout=120)
    wait_until_idle(run.settings)
    time.sleep(3)  # a second notification, if any, would be here by now
    assert notified_patients(run.webhook) == {
        "P-0001": 1, "P-0002": 1, "P-0301": 1, "P-0401": 1, "P-0201": 1
    }  # fmt: skip
    after = reading_counts(run.settings)
    counted = {k: before[k] + after[k] for k in before}
    print(f"readings counted before the kill {before}, after the restart {after}")
    assert counted["ok"] + counted["invalid"] == published_readings(run.settings)
    assert counted["invalid"] == counted["deadletter"] >= len(bad)
    assert run.daemon.stop() == 0
