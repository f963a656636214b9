"""Faults on the input and notification side (issue #6), against the real processes: one
``vitalwatch run`` (real broker, real Spark, real notifier) for the whole module, with real HTTP
receivers reached through apprise's ``json://``. The run goes through two phases, and the tests
below assert on what they left behind: devices with skewed clocks, with a rules file replaced
by an invalid one meanwhile; then a burst of ten times the normal rate, with a receiver down
far longer than its retries meanwhile. The expectation of each fault is in its test's
docstring; in every case: no reading lost without a count, no alert lost, no duplicate
notification to a receiver, a technical alert where clinicians could be affected, recovery
without a human.

Related elsewhere: an invalid rules file *added* to the directory of a running daemon, the
running rules keeping their state through a later valid reload
(``test_rule_reload.py::test_rules_edited_under_a_running_daemon``); a receiver down for a few
retries, with the notifier alone (``test_notify_delivery.py``).
"""

from __future__ import annotations

import bisect
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka import Message as KafkaMessage

from tests.integration.conftest import (
    Daemon,
    metric_sum,
    run_settings,
    scrape,
    settings_env,
)
from tests.integration.notify_rig import Hooks, publish_alerts, serve_hooks
from tests.integration.scenario import wait_for_readings, wait_until_idle, warm_up
from tests.integration.test_notify_delivery import alert_ids
from tests.unit.notify.harness import alert
from vitalwatch.contracts.alerts import AlertState
from vitalwatch.contracts.readings import Signal
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.kafka_clients import client_config
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish

pytestmark = pytest.mark.integration

# -- the daemon's routing: clinical alerts to the ward; the outage drill to its own receiver --

ROUTING = """
route:
  receiver: ward
  group_by: [patient_id]
  group_wait: 2s
  routes:
    - name: outage-drill
      matchers: ["ward=OUTAGE-DRILL"]
      receiver: drill
receivers:
  - name: ward
    tiers: [{{urls: ["{ward}"]}}]
  - name: drill
    tiers: [{{urls: ["json://127.0.0.1:{drill_port}/drill"]}}]
  - name: ops
    tiers: [{{urls: ["{ops}"]}}]
fallback: ops
"""
# Retries as the shared test settings give them (settings_env): 5 attempts, 200 ms doubling.
MAX_ATTEMPTS, BACKOFF_S = 5, 0.2
RETRY_BUDGET_S = sum(BACKOFF_S * 2**n for n in range(MAX_ATTEMPTS - 1))  # 3.0 s
RETRY_INTERVAL_S = BACKOFF_S * 2 ** (MAX_ATTEMPTS - 1)  # then one try every 3.2 s
OUTAGE_S = 30.0  # ten retry budgets (a 10-minute outage is forty of the default 15 s)


def reading(
    offset_ms: int, patient: str, ts_ms: int, published_ms: int | None = None, **values: float
) -> Message:
    """``published_ms``: the Kafka record's timestamp, the gateway's (correct) clock when it
    published the reading; None: the wall clock at publication."""
    signal = Signal.HEART_RATE if "bpm" in values else Signal.BLOOD_PRESSURE
    body = orjson.dumps({"patient_id": patient, "ts": ts_ms, **values, "device_id": "mon"})
    return Message(offset_ms, signal, patient.encode(), body, timestamp_ms=published_ms)


def by_offset(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: m.offset_ms)


# -- phase 1: devices with skewed clocks ------------------------------------------------------

NORMAL, AHEAD, BEHIND, LAGGING = "P-0101", "P-0102", "P-0103", "P-0104"
SKEW_SPAN_S = 150  # every skew patient tachycardic (HR 150, 1 Hz) for this long
FIRST_CHUNK_S = 30  # published at once and processed before the rest: watermarks established
FUTURE_S, PAST_S, LAG_S = 600, 180, 600


@dataclass
class SkewFeed:
    first: list[Message]
    rest: list[Message]
    ahead: list[Message]  # AHEAD's readings stamped FUTURE_S ahead of its own clock
    behind: list[Message]  # BEHIND's readings stamped PAST_S behind: beyond allowed lateness

    @property
    def total(self) -> int:
        return len(self.first) + len(self.rest)


def skew_feed(start_ms: int) -> SkewFeed:
    """Four tachycardic patients: a device with a correct clock; one that stamps every tenth
    reading 10 min ahead; one that stamps every tenth reading 3 min behind; one whose whole clock
    runs 10 min behind (consistent: nothing of it is late)."""
    first, rest, ahead, behind = [], [], [], []
    for t in range(SKEW_SPAN_S):
        ts = start_ms + t * 1000
        chunk = first if t < FIRST_CHUNK_S else rest
        offset = 0 if t < FIRST_CHUNK_S else (t - FIRST_CHUNK_S) * 1000
        # Published as the gateway's correct clock reads ``ts`` (the feed runs faster than real
        # time), whatever the device stamped.
        chunk += [
            reading(offset, NORMAL, ts, ts, bpm=150),
            reading(offset, AHEAD, ts, ts, bpm=150),
            reading(offset, BEHIND, ts, ts, bpm=150),
            reading(offset, LAGGING, ts - LAG_S * 1000, ts, bpm=150),
        ]
        if t >= FIRST_CHUNK_S + 10 and t % 10 == 0:
            ahead.append(reading(offset + 1, AHEAD, ts + FUTURE_S * 1000, ts, bpm=150))
            behind.append(reading(offset + 1, BEHIND, ts - PAST_S * 1000, ts, bpm=150))
    return SkewFeed(first, by_offset(rest + ahead + behind), ahead, behind)


# -- phase 2: a burst of ten times the normal rate ------------------------------------------

BURST_PATIENTS = [f"P-{n:04d}" for n in range(301, 501)]  # 200 patients, HR at 1 Hz
BURST_FROM_S, BURST_TO_S, BURST_END_S = 15, 35, 50  # HR at 10 Hz in between: 2,000/s
HYPOTENSION_AT_S = {"P-0301": 8, "P-0302": 20, "P-0303": 25, "P-0304": 30, "P-0305": 40,
                    "P-0306": 47}  # fmt: skip


def burst_feed(start_ms: int) -> list[Message]:
    """200 patients: HR at 1 Hz, at 10 Hz during the burst; a cuff every 10 s (118/76), and for
    six patients one more cuff reading, systolic 85 (NEWS2 red: it alerts on that reading alone),
    before, during and after the burst."""
    messages = []
    for index, patient in enumerate(BURST_PATIENTS):
        t_ms = index * 5  # staggered within the second
        while t_ms < BURST_END_S * 1000:
            messages.append(reading(t_ms, patient, start_ms + t_ms, bpm=70 + index % 20))
            t_ms += 100 if BURST_FROM_S * 1000 <= t_ms < BURST_TO_S * 1000 else 1000
        cuffs = [(t_s * 1000, 118) for t_s in range(index % 10, BURST_END_S, 10)]
        if patient in HYPOTENSION_AT_S:
            cuffs.append((HYPOTENSION_AT_S[patient] * 1000 + 500, 85))
        for t_ms, systolic in cuffs:
            diastolic = 76 if systolic > 90 else 45
            messages.append(
                reading(t_ms, patient, start_ms + t_ms, systolic=systolic, diastolic=diastolic)
            )
    return by_offset(messages)


# -- during phase 2: the drill receiver down far longer than its retries -------------------

DRILL = [f"P-07{n:02d}" for n in range(1, 5)]


def drill_alert(patient: str, state: AlertState = AlertState.FIRING) -> Any:
    return replace(alert(patient=patient, ward="OUTAGE-DRILL"), state=state)


@dataclass
class Drill:
    during: dict[str, float]  # the daemon's metrics while the receiver was down
    technical: list[dict[str, Any]]  # what the fallback receiver got
    back: list[dict[str, Any]]  # what the receiver got once it was back
    back_requests: int


def outage_drill(settings: Settings, down: socket.socket, ops: Hooks) -> Drill:
    """P-0701 and P-0702 fire while the receiver refuses connections, P-0703 fires later in the
    outage, P-0702 resolves within it; the receiver comes back after OUTAGE_S and P-0704 fires."""
    started = time.monotonic()
    publish_alerts(settings, [drill_alert(DRILL[0]), drill_alert(DRILL[1])])
    ops.wait_for("ops", 2, timeout=60)
    publish_alerts(settings, [drill_alert(DRILL[2])])
    publish_alerts(settings, [drill_alert(DRILL[1], AlertState.RESOLVED)])
    ops.wait_for("ops", 3, timeout=60)
    during = scrape(settings)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))
    port = down.getsockname()[1]
    down.close()
    with serve_hooks(port) as back:
        publish_alerts(settings, [drill_alert(DRILL[3])])
        back.wait_for("drill", 3, timeout=60)
        time.sleep(3 * RETRY_INTERVAL_S)  # a further message, if any, would have come
        return Drill(during, ops.messages("ops"), back.messages("drill"),
                     back.requests.get("drill", 0))  # fmt: skip


# -- during phase 1: a rules file replaced by an invalid one ---------------------------------


@dataclass
class RulesReplaced:
    original: str
    replaced_at: float
    rejected: dict[str, Any]  # the daemon's log event
    after_rejection: dict[str, float]  # its metrics then
    restored_at: float = 0.0

    def restore(self, settings: Settings) -> None:
        (settings.rules.directory / "heart-rate.yaml").write_text(self.original)
        self.restored_at = time.time()


def replace_rules_file(settings: Settings, daemon: Daemon) -> RulesReplaced:
    """Overwrite the running tachycardia rule's file with a copy that has one wrong value (a
    severity the contract does not have), as a hurried edit would."""
    path = settings.rules.directory / "heart-rate.yaml"
    original = path.read_text()
    replaced_at = time.time()
    path.write_text(original.replace("severity: high", "severity: critical", 1))
    rejected = daemon.wait_for_event("rules.reload_rejected", timeout=60)
    return RulesReplaced(original, replaced_at, rejected, scrape(settings))


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float  # wall time
    counted: float  # readings the daemon has counted so far
    event_time_lag_s: float  # the gauge VitalwatchEventTimeLagging watches (heart rate)


@dataclass
class Run:
    settings: Settings
    hooks: Hooks  # paths: ward (clinical alerts), ops (the fallback)
    skew: SkewFeed
    burst_started: float
    drill: Drill
    rules: RulesReplaced
    published: int
    burst_offsets_ms: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    deadletters: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)
    exit_code: int | None = None

    def ward_ids(self) -> Counter[str]:
        return Counter(i for m in self.hooks.messages("ward") for i in alert_ids(m["message"]))

    def firing(self, patient: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["patient_id"] == patient and a["state"] == "firing"]

    def dead(self, patient: str) -> list[tuple[str, bytes, dict[str, Any]]]:
        return [d for d in self.deadletters if d[2].get("patient_id") == patient]


def read_all(settings: Settings, topic: str, timeout: float = 60) -> list[KafkaMessage]:
    """Every record on ``topic`` up to its current end (the broker's high watermarks)."""
    consumer = Consumer(client_config(settings, **{"group.id": f"check-{uuid.uuid4().hex}"}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
                for p in partitions}  # fmt: skip
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records, remaining = [], {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is not None and not record.error():
                records.append(record)
                if (record.offset() or 0) + 1 >= ends[record.partition() or 0]:
                    remaining.discard(record.partition() or 0)
        assert not remaining, f"{topic}: not read to its end in {timeout} s"
        return records
    finally:
        consumer.close()


def publish_from(messages: list[Message], settings: Settings, start: float) -> None:
    """Publish at the speed of the clock their event times were stamped from, from ``start``."""
    time.sleep(max(0.0, start - time.time()))
    publish(messages, settings, speed=1.0)


def sample_progress(settings: Settings, stop: threading.Event, out: list[Sample]) -> None:
    while not stop.wait(1.0):
        samples = scrape(settings)
        out.append(Sample(
            time.time(),
            metric_sum(samples, "vitalwatch_readings_total"),
            metric_sum(samples, "vitalwatch_event_time_lag_seconds", signal="heart_rate"),
        ))  # fmt: skip


@pytest.fixture(scope="module")
def run(kafka: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("faults")
    settings = run_settings(kafka, root)
    down = socket.socket()  # bound, not listening: the drill receiver refuses connections
    down.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    down.bind(("127.0.0.1", 0))
    with serve_hooks() as hooks:
        settings.notify.routing_file = root / "routing.yaml"
        settings.notify.routing_file.write_text(ROUTING.format(
            ward=hooks.url("ward"), ops=hooks.url("ops"), drill_port=down.getsockname()[1]
        ))  # fmt: skip
        daemon = Daemon(settings_env(settings, []), root / "daemon.log")
        try:
            yield drive(settings, daemon, hooks, down)
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(30)


def drive(settings: Settings, daemon: Daemon, hooks: Hooks, down: socket.socket) -> Run:
    daemon.wait_for_event("daemon.ready", timeout=180)
    warm_up(settings, timeout=240)  # the first batch starts the Python workers
    published = 1

    now_ms = int(time.time() * 1000)
    skew = skew_feed(now_ms - SKEW_SPAN_S * 1000)  # event times up to now (AHEAD's beyond)
    publish(skew.first, settings, speed=0)
    wait_for_readings(settings, published + len(skew.first), timeout=120)
    rules = replace_rules_file(settings, daemon)  # the tachycardia rule's file, invalid now
    publish(skew.rest, settings, speed=10)  # ~12 s: the rest of the feed over many batches
    published += skew.total
    wait_for_readings(settings, published, timeout=120)
    rules.restore(settings)

    burst_started = time.time() + 3  # the feed is built meanwhile; its clock starts then
    burst = burst_feed(int(burst_started * 1000))
    stop, samples = threading.Event(), []
    sampler = threading.Thread(target=sample_progress, args=(settings, stop, samples))
    publisher = threading.Thread(target=publish_from, args=(burst, settings, burst_started))
    sampler.start()
    publisher.start()
    drill = outage_drill(settings, down, hooks)
    publisher.join()
    published += len(burst)
    wait_for_readings(settings, published, timeout=240)
    wait_until_idle(settings, quiet_s=4)
    stop.set()
    sampler.join()
    hooks.wait_for("ward", 3 + len(HYPOTENSION_AT_S), timeout=60)
    time.sleep(5)  # group_wait and a tick: a duplicate, if any, would have arrived

    run = Run(settings, hooks, skew, burst_started, drill, rules, published,
              [m.offset_ms for m in burst], samples)  # fmt: skip
    run.metrics, topics = scrape(settings), settings.topics
    run.alerts = [
        orjson.loads(m.value() or b"") for m in read_all(settings, settings.topics.alerts)
    ]
    for m in read_all(settings, topics.deadletter):
        headers = {k: v.decode() for k, v in m.headers() or []}
        run.deadletters.append((headers["reason"], m.value(), orjson.loads(m.value())))
    run.exit_code = daemon.stop()
    return run


# -- the expectations ---------------------------------------------------------------------


def test_a_receiver_down_far_longer_than_its_retries(run: Run) -> None:
    """A receiver down for 10 minutes, scaled: under the defaults (5 attempts, 1 s doubling)
    a message's retries are spent in 15 s, so a 10-minute outage is forty retry budgets: every
    message in it exhausts its retries, and the receiver is still down when they are spent.
    Here retries take 3 s (200 ms doubling) and the outage lasts 30 s (ten budgets), the same
    regime.

    Expected: while it is down, each message is retried, then handed to the fallback receiver as
    a technical alert (once per message: the retries that go on at the end of the doubling
    schedule do not repeat it), dead-lettered and counted; the outage shows in the metrics.
    When the receiver is back, with nobody doing anything, new alerts reach it, and so do the
    alerts that are still firing and that it never got (marked as delayed): a clinician there
    still needs to know of an alarm that is still on. An alert that resolved during the outage
    is not sent late (the fallback had it). No alert is lost (each reached the receiver or the
    fallback), none reaches a receiver twice."""
    drill, ids = run.drill, {p: drill_alert(p).alert_id for p in DRILL}
    assert metric_sum(drill.during, "vitalwatch_notifications_total", receiver="drill",
                      outcome="failed") >= 3  # fmt: skip
    assert metric_sum(drill.during, "vitalwatch_notifications_total", receiver="drill",
                      outcome="retried") >= 3 * MAX_ATTEMPTS  # fmt: skip
    assert metric_sum(drill.during, "vitalwatch_technical_alerts_total", component="notifier") >= 3
    technical = [alert_ids(m["message"]) for m in drill.technical]
    assert all(m["title"].startswith("[TECHNICAL]") for m in drill.technical)
    assert sorted(i for found in technical for i in found) == sorted(ids[p] for p in DRILL[:3])
    failed = [d for d in run.deadletters if d[0] == "notification_failed:json"]
    assert sorted(d[2]["alert_id"] for d in failed) == sorted(ids[p] for p in DRILL[:3])

    back = Counter(i for m in drill.back for i in alert_ids(m["message"]))
    assert back == Counter({ids[DRILL[0]]: 1, ids[DRILL[2]]: 1, ids[DRILL[3]]: 1})
    delayed = [m for m in drill.back if ids[DRILL[3]] not in m["message"]]
    assert all("Delayed" in m["message"] for m in delayed) and len(delayed) == 2
    assert metric_sum(run.metrics, "vitalwatch_notifications_total", receiver="drill",
                      outcome="redelivered") == 2  # fmt: skip
    print(f"drill receiver back: {len(drill.back)} messages, {drill.back_requests} requests")


def test_skewed_device_clocks_do_not_hide_other_patients_alerts(run: Run) -> None:
    """Clock skew of devices, through the daemon: tachycardic patients whose monitors stamp
    correctly, stamp every tenth reading 3 min in the past (beyond the 2 s allowed lateness),
    run 10 min behind altogether, or stamp every tenth reading 10 min in the future.

    Expected: readings stamped in the past behind the patient's own watermark are dead-lettered
    as ``late`` with their bytes and source, counted, and do not stop that patient's alert; a
    clock that lags as a whole loses nothing (the watermark is per patient and signal); no
    device's skew, ahead or behind, suppresses another patient's alert; each is notified once."""
    for patient in (NORMAL, BEHIND, LAGGING):
        (firing,) = [a for a in run.firing(patient) if a["rule_id"] == "tachycardia-sustained"]
        assert run.ward_ids()[firing["alert_id"]] == 1, patient
    late = [d for d in run.dead(BEHIND) if d[0] == "late"]
    assert sorted(d[1] for d in late) == sorted(m.value for m in run.skew.behind)
    assert run.dead(NORMAL) == [] and run.dead(LAGGING) == []
    assert len(run.dead(BEHIND)) == len(run.skew.behind)
    all_late = [d for d in run.deadletters if d[0] == "late"]
    assert metric_sum(run.metrics, "vitalwatch_deadletter_total", reason="late") == len(all_late)


def test_a_rules_file_replaced_by_an_invalid_one_mid_run(run: Run) -> None:
    """Expected: the invalid file is rejected with the file named, as a technical alarm
    (metric, log event, technical dead letter), the running rules go on and alert from readings
    that arrive while the invalid file is in place; the file put right is taken up again."""
    rules = run.rules
    assert str(run.settings.rules.directory / "heart-rate.yaml") in rules.rejected["error"]
    samples = rules.after_rejection
    assert metric_sum(samples, "vitalwatch_rule_reloads_total", outcome="invalid") >= 1
    assert metric_sum(samples, "vitalwatch_technical_alerts_total", component="rules") >= 1
    assert any(d[0] == "technical:rules" for d in run.deadletters)
    for patient in (NORMAL, BEHIND):
        (firing,) = [a for a in run.firing(patient) if a["rule_id"] == "tachycardia-sustained"]
        emitted = datetime.fromisoformat(firing["emitted"].replace("Z", "+00:00")).timestamp()
        assert rules.replaced_at < emitted < rules.restored_at, patient
    assert metric_sum(run.metrics, "vitalwatch_rules_loaded") == metric_sum(
        samples, "vitalwatch_rules_loaded"
    )
    assert metric_sum(run.metrics, "vitalwatch_rule_reloads_total", outcome="applied") == 0
    assert metric_sum(run.metrics, "vitalwatch_rule_reloads_total", outcome="unchanged") >= 1


def test_a_device_stamping_readings_in_the_future_does_not_silence_its_patient(run: Run) -> None:
    """Expected: a reading stamped minutes ahead of its publication (``rules.max_clock_skew``)
    is dead-lettered as ``future`` and counted, not taken as the patient's newest reading; the
    patient's correctly stamped readings are all evaluated and its tachycardia is notified once."""
    (firing,) = [a for a in run.firing(AHEAD) if a["rule_id"] == "tachycardia-sustained"]
    assert run.ward_ids()[firing["alert_id"]] == 1
    assert sorted(d[1] for d in run.dead(AHEAD)) == sorted(m.value for m in run.skew.ahead)
    assert {d[0] for d in run.dead(AHEAD)} == {"future"}
    assert metric_sum(run.metrics, "vitalwatch_deadletter_total", reason="future") == len(
        run.skew.ahead
    )


def test_a_burst_of_ten_times_the_rate_loses_nothing_and_notifies_once(run: Run) -> None:
    """A burst of 10x the normal rate: 200 patients at 1 Hz (200 readings/s), then 2,000/s
    for 20 s, then 1 Hz again; six patients have a NEWS2-red systolic before, during and after
    it.

    Expected: every published reading counted by the daemon (processed, or dead-lettered with a
    reason), the six alerts notified exactly once each and nothing else notified for the burst
    patients, the daemon still up and stopping cleanly. Latency through the burst (Kafka lag,
    the event-time lag that the self-alert VitalwatchEventTimeLagging watches, and
    event-to-notification per alert) is measured and printed, not asserted: the machine is
    shared. That self-alert's threshold and timing are unit-tested with promtool
    (monitoring/vitalwatch-rules.test.yaml); here: the gauge it reads is exported, per signal."""
    counted = metric_sum(run.metrics, "vitalwatch_readings_total")
    assert counted == run.published
    burst = set(BURST_PATIENTS)
    fired = [a for a in run.alerts if a["patient_id"] in burst and a["state"] == "firing"]
    assert sorted((a["patient_id"], a["rule_id"]) for a in fired) == sorted(
        (p, "systolic-news2-red") for p in HYPOTENSION_AT_S
    )
    ward = run.ward_ids()
    assert [ward[a["alert_id"]] for a in fired] == [1] * len(fired)
    assert all(count == 1 for count in ward.values())
    assert not any(d[2].get("patient_id") in burst for d in run.deadletters)
    assert any(k.startswith('vitalwatch_event_time_lag_seconds{signal="heart_rate"')
               for k in run.metrics)  # fmt: skip
    assert run.exit_code == 0

    at = {i: m["at"] for m in run.hooks.messages("ward") for i in alert_ids(m["message"])}
    for a in sorted(fired, key=lambda a: a["onset_ms"]):
        offset = a["onset_ms"] / 1000 - run.burst_started
        phase = "before" if offset < BURST_FROM_S else "during" if offset < BURST_TO_S else "after"
        print(f"{phase:6} burst: reading at +{offset:4.1f} s -> notified after "
              f"{at[a['alert_id']] - a['onset_ms'] / 1000:5.2f} s")  # fmt: skip
    before = run.published - len(run.burst_offsets_ms)
    for sample in run.samples[::3]:
        t = sample.at - run.burst_started
        sent = bisect.bisect_right(run.burst_offsets_ms, t * 1000)
        print(f"t={t:5.1f} s  published {sent:6d}  backlog {sent - (sample.counted - before):6.0f}"
              f"  event-time lag {sample.event_time_lag_s:7.2f} s")  # fmt: skip
