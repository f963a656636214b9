"""A ward behind a gateway, end to end, for the NEWS2 tests: ``vitalwatch run`` (the stream and
the notifier, as an operator runs it) with the shipped clinical rules on a broker the test may
stop, a clinician's webhook reached through apprise's ``json://``, and ``Monitor``, which sends
each patient's observation sets through a gateway as a bedside monitor's gateway does.

``Monitor`` is store and forward: each round it takes an observation set per patient, stamped
with the wall clock, and sends each patient's sets in order, one at a time; a set the gateway
does not accept stays first in that patient's queue and is sent again at the next round, before
any later set of that patient (so a resent set is never behind a newer reading of its patient,
which the stream would take as late). Every attempt's answer is kept, with whether the broker
was stopped for the whole attempt (``outage``).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.integration.conftest import (
    Daemon,
    Webhook,
    metric_sum,
    run_settings,
    scrape,
    serve_webhook,
    settings_env,
)
from tests.integration.gateway_rig import read_topics
from tests.integration.scenario import wait_for_readings, warm_up
from tests.unit.gateway.vital_signs import TYPICAL, VitalSigns
from vitalwatch.contracts.alerts import iso_ms
from vitalwatch.contracts.readings import Signal
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.settings import Settings

ROUND_S = 2.0  # a monitor's observation sets, every 2 s
CUFF_EVERY = 3  # rounds between blood pressures
# From the last set taken to the notification, with the daemon back from the broker outage.
NOTIFIED_S = 120.0
# The default routing's group_interval (1 min): news2-urgent, if it came after news2-emergency
# had been sent, would wait for it (one message per group per interval).
GROUP_INTERVAL_S = 60.0


def measured_at(values: VitalSigns, number: int) -> VitalSigns:
    """What a monitor measures of a patient at its ``number``-th round: pulse, SpO2 and
    respiration every round, the cuff's blood pressure every ``CUFF_EVERY``, the temperature at
    the first only. NEWS2 then scores with the latest of each, and a time waits for the signals
    not measured then to go quiet (the rule's readiness, live)."""
    cuff = number % CUFF_EVERY == 0
    return replace(
        values,
        systolic=values.systolic if cuff else None,
        diastolic=values.diastolic if cuff else None,
        mean=values.mean if cuff else None,
        celsius=values.celsius if number == 0 else None,
    )


# NEWS2 0, every parameter in its 0 band (RCP 2017, chart 1): pulse 88, systolic 118, SpO2 97
# on air, respiration 16, temperature 37.2.
NORMAL = TYPICAL
# NEWS2 8, worked by hand: respiration 25 -> 3, SpO2 91 on scale 1 (air) -> 3, pulse 111 -> 2,
# systolic 118 -> 0, temperature 37.2 -> 0: emergency (7 or more) and urgent (5 or more).
NEWS2_8 = replace(NORMAL, pulse=111, spo2=91, respiration=25)
NEWS2_8_SCORE = 8


@dataclass(frozen=True)
class Attempt:
    answer: str  # "AA", "AE", "201", "503", ...
    accepted: bool
    outage: bool  # the broker was stopped before the attempt began and after it ended


@dataclass
class ObservationSet:
    patient: str
    number: int  # the monitor's count, for control ids
    ts_ms: int
    values: VitalSigns  # what was measured (``measured_at``)
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return any(a.accepted for a in self.attempts)


# One attempt to hand a set to the gateway: the answer and whether it means "taken".
Deliver = Callable[[ObservationSet], tuple[str, bool]]


class Monitor:
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._queues: dict[str, deque[ObservationSet]] = {}
        self.sets: list[ObservationSet] = []
        self.outage = False
        self.broker_back = 0.0  # time.time() when the broker was started again
        self.count = 0  # rounds that took sets

    def round(self, patients: dict[str, VitalSigns] | None) -> None:
        """A new set per patient (none when ``patients`` is None), then each patient's queue
        sent in order until the gateway refuses one."""
        now_ms = int(time.time() * 1000)
        for patient, values in (patients or {}).items():
            measured = measured_at(values, self.count)
            taken = ObservationSet(patient, len(self.sets), now_ms, measured)
            self.sets.append(taken)
            self._queues.setdefault(patient, deque()).append(taken)
        self.count += patients is not None
        for queue in self._queues.values():
            while queue:
                outage = self.outage
                answer, accepted = self._deliver(queue[0])
                queue[0].attempts.append(Attempt(answer, accepted, outage and self.outage))
                if not accepted:
                    break
                queue.popleft()

    def rounds(self, patients: dict[str, VitalSigns], count: int) -> None:
        for _ in range(count):
            started = time.monotonic()
            self.round(patients)
            time.sleep(max(0.0, started + ROUND_S - time.monotonic()))  # pacing, as a monitor

    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def drain(self, timeout: float) -> None:
        """Send again what was not taken, a round every ``ROUND_S``, until all is taken."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            started = time.monotonic()
            self.round(None)
            if self.pending():
                time.sleep(max(0.0, started + ROUND_S - time.monotonic()))
        assert not self.pending(), f"{self.pending()} sets still not taken after {timeout} s"

    @contextlib.contextmanager
    def broker_stopped(self, broker: LocalBroker) -> Iterator[None]:
        """The broker stopped for the block; attempts made wholly inside it are marked."""
        broker.stop()
        self.outage = True
        try:
            yield
        finally:
            self.outage = False
            broker.start()
            self.broker_back = time.time()


@dataclass
class Ward:
    broker: LocalBroker
    settings: Settings
    webhook: Webhook
    daemon: Daemon

    def notifications(self, patient: str) -> list[dict[str, Any]]:
        """What the webhook received about ``patient`` (the rich template names each alert's
        patient: "Patient P-..., bed ...")."""
        return [n for n in list(self.webhook.received) if f"Patient {patient}," in n["message"]]

    def wait_for_notification(self, patient: str, rule: str, timeout: float) -> dict[str, Any]:
        """The first notification about ``patient`` naming ``rule`` in its title."""
        deadline = time.monotonic() + timeout
        while True:
            for notification in self.notifications(patient):
                if rule in notification["title"]:
                    return notification
            assert self.daemon.process.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, (
                f"no {rule} notification about {patient} in {timeout} s; received: "
                f"{[n['title'] for n in self.webhook.received]}"
            )
            time.sleep(0.2)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert message the daemon has written so far."""
        records = read_topics(self.settings, [self.settings.topics.alerts])
        return [json.loads(record.value) for record in records]


@contextlib.contextmanager
def running_ward(broker: LocalBroker, root: Path) -> Iterator[Ward]:
    """The daemon with the shipped rules but no-data (``run_settings``), its notifier sending
    to a webhook, warmed up (a batch processed: Spark's Python workers are running)."""
    settings = run_settings(broker, root)
    with serve_webhook() as webhook:
        daemon = Daemon(settings_env(settings, [webhook.url]), root / "daemon.log")
        try:
            daemon.wait_for_event("daemon.ready", timeout=180)
            warm_up(settings)
            yield Ward(broker, settings, webhook, daemon)
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(30)


def deteriorate_during_an_outage(ward: Ward, monitor: Monitor, sick: str, control: str) -> None:
    """What both tests play, ~30 s of a monitor: both patients normal for 3 rounds; the broker
    stopped, and ``sick`` scoring NEWS2 8 for the 3 rounds while it is down; the broker started
    again, and 3 more rounds (``sick`` still at 8), each first sending again what was not
    taken; then what is still not taken, until it is."""
    normal = {sick: NORMAL, control: NORMAL}
    deteriorated = {sick: NEWS2_8, control: NORMAL}
    monitor.rounds(normal, 3)
    with monitor.broker_stopped(ward.broker):
        monitor.rounds(deteriorated, 3)
    monitor.rounds(deteriorated, 3)
    monitor.drain(timeout=60)


def check_the_outcome(
    ward: Ward, monitor: Monitor, sick: str, control: str, before: dict[str, float]
) -> None:
    """After ``deteriorate_during_an_outage``: nothing taken while the broker was down, and the
    first NEWS2 8 set, refused then, taken when sent again; the clinician's webhook told of
    ``news2-emergency`` (and ``news2-urgent``) for ``sick`` with that set's time as the onset,
    so from the set sent again; every reading of every set taken on its topic; once the daemon
    has processed every reading taken (``before``: its metrics then), none refused as late or
    invalid, and nothing alerted or notified for ``control``."""
    outage = [a for s in monitor.sets for a in s.attempts if a.outage]
    assert {s.patient for s in monitor.sets if any(a.outage for a in s.attempts)} == {sick, control}
    assert not any(a.accepted for a in outage), [a.answer for a in outage]
    first = next(
        s for s in monitor.sets if s.patient == sick and s.values.respiration == NEWS2_8.respiration
    )
    assert first.attempts[0].outage and first.accepted, first.attempts

    emergency = ward.wait_for_notification(sick, "news2-emergency", NOTIFIED_S)
    message = emergency["message"]
    print(f"news2-emergency notified {emergency['at'] - monitor.broker_back:.1f} s after the "
          f"broker was back: {emergency['title']}")  # fmt: skip
    assert f"NEWS2 {NEWS2_8_SCORE} (emergency response from 7)" in message, message
    assert f"Onset {iso_ms(first.ts_ms)};" in message, message
    urgent = ward.wait_for_notification(sick, "news2-urgent", GROUP_INTERVAL_S + 15)
    assert f"NEWS2 {NEWS2_8_SCORE} (urgent response from 5)" in urgent["message"]

    assert missing_from_topics(ward.settings, monitor.sets) == []
    taken = sum(len(s.values.readings()) for s in monitor.sets if s.accepted)
    wait_for_readings(ward.settings, _readings(before) + taken, timeout=60)
    after = scrape(ward.settings)
    assert _readings(after, "late", "invalid") == _readings(before, "late", "invalid")
    alerts = ward.alerts()
    assert sorted(
        (a["rule_id"], a["state"], a["onset_ms"], a["values"])
        for a in alerts
        if a["patient_id"] == sick
    ) == [
        ("news2-emergency", "firing", first.ts_ms, {"news2_aggregate": NEWS2_8_SCORE}),
        ("news2-urgent", "firing", first.ts_ms, {"news2_aggregate": NEWS2_8_SCORE}),
    ]
    assert [a for a in alerts if a["patient_id"] == control] == []
    assert ward.notifications(control) == []
    titles = [n["title"] for n in ward.notifications(sick)]
    assert sum("news2-emergency" in title for title in titles) == 1, titles


def missing_from_topics(settings: Settings, sets: list[ObservationSet]) -> list[str]:
    """Of the accepted sets, every reading not on its topic with its patient, time and values
    (what the gateway answered AA or 201 for must be there: nothing acknowledged is lost)."""
    topics = {settings.topics.reading(signal): signal for signal in Signal}
    on_topics = set()
    for record in read_topics(settings, list(topics)):
        body = json.loads(record.value)
        ts_ms = _epoch_ms(body.pop("ts"))
        patient = body.pop("patient_id")
        assert record.key == patient.encode()
        on_topics.add((topics[record.topic], patient, ts_ms, _fields(body)))
    missing = []
    for taken in (s for s in sets if s.accepted):
        for signal, values in taken.values.readings().items():
            if (signal, taken.patient, taken.ts_ms, _fields(values)) not in on_topics:
                missing.append(f"{taken.patient} {signal.value} at {taken.ts_ms}: {values}")
    return missing


def _fields(values: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((name, float(value)) for name, value in values.items()))


def _epoch_ms(ts: str | int) -> int:
    """A reading's ``ts``: the gateways write ISO-8601 (``warm_up``'s reading, epoch ms)."""
    if isinstance(ts, int):
        return ts
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def _readings(samples: dict[str, float], *outcomes: str) -> float:
    """The daemon's readings counted, of these outcomes (all when none is named)."""
    name = "vitalwatch_readings_total"
    if not outcomes:
        return metric_sum(samples, name)
    return sum(metric_sum(samples, name, outcome=outcome) for outcome in outcomes)
