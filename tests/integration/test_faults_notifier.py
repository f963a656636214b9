"""Faults of the notifier's own dependencies (issue 17, item 6), against a real broker of this
module's own (tests stop it) and real HTTP receivers: the broker down while the notifier
commits, a dead-letter write the broker does not confirm, a receiver that accepts the connection
and never answers, and the notification log's filesystem full or turned read-only.

The notifier runs in the test's process (``NotificationService``, as ``vitalwatch run`` and
``notify serve`` run it), so its ``Metrics`` object and its log events are read directly. Each
test checks that nothing is lost (every alert ends delivered, or with the fallback receiver and
a technical alarm) and that the failure is visible (a metric, and a technical alarm where an
alert could be hidden).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tests.conftest import free_port
from tests.integration.conftest import new_broker, run_settings
from tests.integration.filesystems import ext4_image, fail_disk, fill, mounted, repair, tmpfs
from tests.integration.notify_rig import Hooks, publish_alerts, serve_hooks
from tests.integration.test_faults_input_and_delivery import read_all
from tests.integration.test_notify_delivery import alert_ids
from tests.unit.notify.harness import alert
from vitalwatch.contracts.alerts import Alert
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.infra.java import Java
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.metrics import Metrics
from vitalwatch.notify.operations import state_file
from vitalwatch.notify.service import NotificationService
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration

TECHNICAL = "vitalwatch_technical_alerts_total"
ROUTING = """
route:
  receiver: ward
  group_by: [{group_by}]
  group_wait: {group_wait}
  group_interval: 1s
  routes:
    - matchers: ["ward=SILENT"]
      receiver: silent
receivers:
  - name: ward
    tiers: [{{urls: ["{ward}"]}}]
  - name: silent
    tiers: [{{urls: ["{silent}"]}}]
  - name: ops
    tiers: [{{urls: ["{ops}"]}}]
fallback: ops
"""


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, java: Java, base_settings: Settings
) -> Iterator[LocalBroker]:
    """A broker for this module alone: its tests stop it."""
    own = new_broker(tmp_path_factory.mktemp("notifier-kafka"), java, base_settings)
    own.start()
    yield own
    own.stop()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with serve_hooks() as served:
        yield served


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    """The log events of the notifier (it runs in this process)."""
    with structlog.testing.capture_logs() as captured:
        yield captured


def notifier_settings(
    broker: LocalBroker,
    root: Path,
    hooks: Hooks,
    ward: str | None = None,
    silent: str = "json://127.0.0.1:1/none",
    group_by: str = "patient_id",
    group_wait: str = "0s",
) -> Settings:
    settings = run_settings(broker, root)
    settings.notify.tick = 100
    settings.notify.max_attempts = 3
    settings.notify.routing_file = root / "routing.yaml"
    settings.notify.routing_file.write_text(ROUTING.format(
        ward=ward or hooks.url("ward"), silent=silent, ops=hooks.url("ops"),
        group_by=group_by, group_wait=group_wait,
    ))  # fmt: skip
    settings.api.port = free_port()
    return settings


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[NotificationService]:
    service = started(settings)
    try:
        yield service
    finally:
        service.stop(10)


def started(settings: Settings) -> NotificationService:
    """The notifier started as ``vitalwatch run`` and ``notify serve`` start it: its topics
    exist by then."""
    ensure_topics(settings)
    service = NotificationService(settings, Metrics(CollectorRegistry()))
    service.start()
    return service


def value(service: NotificationService, name: str, **labels: str) -> float:
    return service.ops.metrics.registry.get_sample_value(name, labels) or 0.0


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def delivered(hooks: Hooks, path: str = "ward") -> Counter[str]:
    """Alert ids in the messages ``path`` received, with how often each came."""
    return Counter(i for m in hooks.messages(path) for i in alert_ids(m["message"]))


def technical(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events if e.get("technical_alert")]


def stored_alerts(settings: Settings) -> int:
    with contextlib.closing(sqlite3.connect(state_file(settings), timeout=30)) as db:
        return int(db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])


def uncommitted(settings: Settings) -> int:
    """Records on the alerts topic past the notifier group's committed offsets."""
    config = client_config(settings, **{"group.id": settings.notify.consumer_group})
    consumer = Consumer(config)
    try:
        topic = settings.topics.alerts
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        deadline = time.monotonic() + 30
        while True:  # a broker just started answers "not coordinator" for a few seconds
            try:
                asked = [TopicPartition(topic, p) for p in parts]
                committed = consumer.committed(asked, timeout=10)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1] for p in parts}
        return sum(ends[c.partition] - max(c.offset, 0) for c in committed)
    finally:
        consumer.close()


def patients(count: int, ward: str = "ICU-A", prefix: str = "P-") -> list[Alert]:
    return [alert(patient=f"{prefix}{n:04d}", ward=ward) for n in range(count)]


# -- the broker ------------------------------------------------------------------------------


def kill(broker: LocalBroker) -> None:
    """SIGKILL: the broker gone at once, as in a crash (``stop`` shuts it down in order)."""
    pid = broker.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # our child: reaped, so it does not linger as a zombie


@contextlib.contextmanager
def write_locked(settings: Settings) -> Iterator[None]:
    """Hold the state file's write lock, as ``vitalwatch ack`` or ``silence`` does for a moment:
    the notifier's next write waits for it (up to 30 s)."""
    with contextlib.closing(sqlite3.connect(state_file(settings), isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("COMMIT")


def test_the_broker_down_while_the_notifier_commits_is_an_alarm_and_nothing_is_lost_or_repeated(
    broker: LocalBroker, tmp_path: Path, hooks: Hooks, events: list[dict[str, Any]]
) -> None:
    """The notifier has read a batch of alert messages and is storing them when the broker
    dies (the state file's lock held meanwhile, so the batch is known to be in between); its
    commit of the batch then fails. Expect: the commit retried with backoff, a technical alarm
    (``notify.commit_failed``) and ``vitalwatch_notifier_commit_failures_total``, the notifier
    alive and delivering the batch with the broker down. Stopped while the broker is still
    down and started again once it is back, the notifier reads the uncommitted messages again
    and ignores them: every alert reaches the receiver exactly once."""
    settings = notifier_settings(broker, tmp_path, hooks)
    # The notifier that stops with the broker down cannot leave its group: the next one is
    # assigned the partitions once the group has timed it out (45 s by default).
    settings.kafka.client_properties = {"session.timeout.ms": SecretStr("10000")}
    warm, batch = alert(patient="P-0999"), patients(20)
    service = started(settings)
    try:
        publish_alerts(settings, [warm])
        hooks.wait_for("ward", 1, timeout=30)
        with write_locked(settings):
            publish_alerts(settings, batch)
            time.sleep(3)  # read, and waiting for the lock to store the first of them
            kill(broker)
        killed = time.monotonic()
        wait_until(lambda: value(service, "vitalwatch_notifier_commit_failures_total") > 0,
                   60, "a failed commit")  # fmt: skip
        hooks.wait_for("ward", 1 + len(batch), timeout=30)  # the broker is not needed for that
        time.sleep(2)  # retries with backoff meanwhile
        assert service.is_alive()
        assert "notify.commit_failed" in technical(events)
        assert value(service, TECHNICAL, component="notifier") >= 1
        failures = value(service, "vitalwatch_notifier_commit_failures_total")
        print(f"commits failed {failures:.0f}x with the broker down, the first "
              f"{time.monotonic() - killed:.1f} s after it went")  # fmt: skip
    finally:
        service.stop(10)  # with the broker still down: the batch stays uncommitted
        broker.stop()
        broker.start()
    left = uncommitted(settings)
    print(f"{left} alert messages uncommitted when the notifier stopped")
    assert left > 0  # what the next notifier reads again

    with running(settings) as service:
        wait_until(lambda: uncommitted(settings) == 0, 60, "every offset committed")
        time.sleep(3)  # a second delivery, if any, would be here by now
    counts = delivered(hooks)
    assert set(counts) == {a.alert_id for a in [warm, *batch]}
    assert set(counts.values()) == {1}, "an alert was delivered twice"
    assert hooks.messages("ops") == []  # nothing failed over to the fallback


def test_a_dead_letter_the_broker_does_not_confirm_is_an_alarm_and_written_when_it_is_back(
    broker: LocalBroker, tmp_path: Path, hooks: Hooks, events: list[dict[str, Any]]
) -> None:
    """A receiver that refuses connections fails every retry while the broker is down: the
    fallback stage notifies the fallback receiver (it needs no broker) and writes the alert to
    the dead-letter topic, which the broker cannot confirm (its timeout is 4 s here, 5 min by
    default). Expect: ``vitalwatch_deadletter_failures_total{reason="notification_failed"}``,
    a technical alarm (``notify.deadletter_failed``), and the dead letter on the topic once the
    broker is back, once."""
    refusing = socket.socket()  # bound, not listening: connections are refused
    refusing.bind(("127.0.0.1", 0))
    url = f"json://127.0.0.1:{refusing.getsockname()[1]}/ward"
    settings = notifier_settings(broker, tmp_path, hooks, ward=url, group_wait="8s")
    settings.kafka.client_properties = {"message.timeout.ms": SecretStr("4000")}
    lost = alert(patient="P-0001")
    try:
        with running(settings) as service:
            publish_alerts(settings, [lost])
            wait_until(lambda: stored_alerts(settings) == 1, 30, "the alert stored")
            kill(broker)  # before the group wait is over and the sends fail
            try:
                hooks.wait_for("ops", 1, timeout=60)
                failures = "vitalwatch_deadletter_failures_total"
                wait_until(lambda: value(service, failures, reason="notification_failed") > 0,
                           30, "the dead letter's failure reported")  # fmt: skip
                assert "notify.deadletter_failed" in technical(events)
                assert value(service, TECHNICAL, component="notifier") >= 2  # send + dead letter
            finally:
                broker.stop()  # (the pid file)
                broker.start()
            wait_until(lambda: failed_over(settings) != [], 60, "the dead letter written")
            time.sleep(3)  # a second copy, if any, would be here by now
    finally:
        refusing.close()
    letters = failed_over(settings)
    assert len(letters) == 1, letters
    assert lost.alert_id.encode() in (letters[0].value() or b"")
    assert lost.alert_id in hooks.messages("ops")[0]["message"]


def failed_over(settings: Settings) -> list[Any]:
    """The fallback stage's dead letters on the topic (read again while the broker that has
    just started does not answer yet)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            records = read_all(settings, settings.topics.deadletter)
        except (KafkaException, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
            continue
        reason = b"notification_failed:json"
        return [m for m in records if dict(m.headers() or []).get("reason") == reason]


# -- a receiver that never answers ---------------------------------------------------------


def test_a_receiver_that_accepts_the_connection_and_never_answers_times_out_and_falls_back(
    broker: LocalBroker, tmp_path: Path, hooks: Hooks, events: list[dict[str, Any]]
) -> None:
    """The kernel completes the receiver's TCP handshakes (a listening socket) but nobody reads
    or answers. Expect: each attempt times out (apprise's read timeout, 4 s), is retried, and
    the alert goes to the fallback receiver with a technical alarm and a dead letter; alerts to
    other receivers meanwhile go out at once, before and after."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # never accepted
    url = f"json://127.0.0.1:{silent.getsockname()[1]}/silent"
    settings = notifier_settings(broker, tmp_path, hooks, silent=url)
    hung = alert(patient="P-0001", ward="SILENT")
    first, later = alert(patient="P-0002"), alert(patient="P-0003")
    try:
        with running(settings) as service:
            started = time.monotonic()
            publish_alerts(settings, [hung, first])
            hooks.wait_for("ward", 1, timeout=30)
            assert time.monotonic() - started < 5, "held up by the silent receiver"
            time.sleep(2)  # the silent receiver's first attempt is hanging now
            publish_alerts(settings, [later])
            hooks.wait_for("ward", 2, timeout=5)
            fallback = hooks.wait_for("ops", 1, timeout=60)
            took = time.monotonic() - started
            print(f"fallback after {took:.1f} s")
            assert hung.alert_id in fallback[0]["message"]
            assert value(service, "vitalwatch_notifications_total", receiver="silent",
                         outcome="retried") == 3  # fmt: skip
            assert value(service, "vitalwatch_notifications_total", receiver="silent",
                         outcome="failed") == 1  # fmt: skip
            assert value(service, TECHNICAL, component="notifier") >= 1
    finally:
        silent.close()
    assert set(delivered(hooks)) == {first.alert_id, later.alert_id}
    letters = failed_over(settings)
    assert len(letters) == 1 and hung.alert_id.encode() in (letters[0].value() or b"")


# -- the notification log's filesystem --------------------------------------------------------


def test_the_notification_logs_filesystem_full_is_an_alarm_and_no_alert_is_lost(
    broker: LocalBroker, tmp_path: Path, hooks: Hooks, events: list[dict[str, Any]]
) -> None:
    """The state directory (notification log, alert store, audit) on a small tmpfs, filled up
    while the notifier runs. Expect: the notifier stays up; alerts it cannot store are not
    committed, the fallback receiver gets each of them (once) with a technical alarm
    (``notify.store_failed``) and ``vitalwatch_errors_total{component="notifier",kind="store"}``;
    once space is freed they are stored and delivered to their receiver, once, and the alert
    delivered before the disk filled is not sent again."""
    settings = notifier_settings(broker, tmp_path, hooks)
    before, during = alert(patient="P-0001"), patients(3, prefix="P-01")
    with mounted(settings.state_dir, *tmpfs("2m")), running(settings) as service:
        publish_alerts(settings, [before])
        hooks.wait_for("ward", 1, timeout=30)
        filler = fill(settings.state_dir)
        publish_alerts(settings, during)
        fallback = hooks.wait_for("ops", len(during), timeout=60)
        print("fallback:", [m["title"] for m in fallback])
        assert {i for m in fallback for i in alert_ids(m["message"])} == {
            a.alert_id for a in during
        }
        assert "notify.store_failed" in technical(events)
        assert value(service, "vitalwatch_errors_total", component="notifier",
                         kind="store") > 0  # fmt: skip
        assert value(service, TECHNICAL, component="notifier") >= 1
        assert service.is_alive()
        assert set(delivered(hooks)) == {before.alert_id}
        filler.unlink()
        wait_until(lambda: len(delivered(hooks)) == 4, 60, "the alerts delivered")
        time.sleep(3)  # a second delivery, if any, would be here by now
        assert uncommitted(settings) == 0
    assert set(delivered(hooks).values()) == {1}
    assert len(hooks.messages("ops")) == len(during)  # told once per alert


def test_the_notification_logs_filesystem_turned_read_only_is_an_alarm_and_no_alert_is_lost(
    broker: LocalBroker, tmp_path: Path, hooks: Hooks, events: list[dict[str, Any]]
) -> None:
    """The state directory on an ext4 filesystem (a loop device, ``errors=remount-ro``) that
    the kernel turns read-only on an error, as it does on a failing disk, while the notifier
    runs. Expect: the notifier stays up; an alert it cannot store is not committed, goes to the
    fallback receiver with a technical alarm and the store-error metric; after a restart on the
    repaired filesystem it is delivered to its receiver, once, and the earlier alert not again."""
    settings = notifier_settings(broker, tmp_path, hooks)
    image = tmp_path / "state.img"
    how = ext4_image(image)
    before, during = alert(patient="P-0001"), alert(patient="P-0002")
    with mounted(settings.state_dir, *how), running(settings) as service:
        publish_alerts(settings, [before])
        hooks.wait_for("ward", 1, timeout=30)
        fail_disk(settings.state_dir)
        publish_alerts(settings, [during])
        fallback = hooks.wait_for("ops", 1, timeout=60)
        assert during.alert_id in fallback[0]["message"]
        assert "notify.store_failed" in technical(events)
        assert value(service, "vitalwatch_errors_total", component="notifier",
                     kind="store") > 0  # fmt: skip
        time.sleep(2)
        assert service.is_alive()
        assert set(delivered(hooks)) == {before.alert_id}
    repair(image)
    with mounted(settings.state_dir, *how), running(settings):
        wait_until(lambda: len(delivered(hooks)) == 2, 60, "the alert delivered")
        time.sleep(3)  # a second delivery, if any, would be here by now
        assert uncommitted(settings) == 0
    assert delivered(hooks) == {before.alert_id: 1, during.alert_id: 1}
