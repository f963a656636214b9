"""Driving a scenario: publish a synthetic ward, read topics back, wait for the query."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import yaml
from confluent_kafka import Consumer

from tests.conftest import REPO
from tests.integration.conftest import metric_sum, scrape
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard

SPEED = 10.0  # simulated seconds per wall second


def warm_up(settings: Settings, timeout: float = 120) -> None:
    """Send one normal reading and wait until a batch processed it (Python workers started)."""
    ensure_topics(settings)
    now = int(time.time() * 1000)
    body = f'{{"patient_id":"P-9999","ts":{now},"bpm":70}}'.encode()
    publish(
        [Message(0, SyntheticWard().messages().__next__().signal, b"P-9999", body)], settings, 0
    )
    wait_for_readings(settings, 1, timeout)


def processed(settings: Settings) -> float:
    try:
        return metric_sum(scrape(settings), "vitalwatch_readings_total")
    except OSError:
        return 0.0


def wait_for_readings(settings: Settings, count: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processed(settings) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"only {processed(settings)} of {count} readings processed in {timeout}s")


def wait_until_idle(settings: Settings, quiet_s: float = 6.0, timeout: float = 180) -> None:
    """Wait until the daemon's processed-readings count stops moving (input drained)."""
    deadline = time.monotonic() + timeout
    last, since = processed(settings), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = processed(settings)
        if now != last:
            last, since = now, time.monotonic()
        elif now > 0 and time.monotonic() - since >= quiet_s:
            return
    raise AssertionError(f"the daemon was still processing after {timeout}s")


def publish_in_background(
    ward: SyntheticWard, settings: Settings
) -> tuple[threading.Thread, float]:
    started = time.time()
    thread = threading.Thread(target=publish, args=(ward.messages(), settings, SPEED), daemon=True)
    thread.start()
    return thread, started


def read_topic(settings: Settings, topic: str, count: int, timeout: float) -> list:
    consumer = Consumer(
        client_config(
            settings, **{"group.id": f"check-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(messages) < count:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                messages.append(message)
    finally:
        consumer.close()
    return messages


def tachycardia_rule_only(directory: Path) -> Path:
    """A rule directory with the shipped tachycardia rule alone: other shipped rules (no-data,
    for one) would also alert on a test's quiet patients."""
    directory.mkdir(parents=True, exist_ok=True)
    shipped = yaml.safe_load((REPO / "rules" / "heart-rate.yaml").read_text())["rules"]
    tachycardia = [r for r in shipped if r["id"] == "tachycardia-sustained"]
    (directory / "heart-rate.yaml").write_text(yaml.safe_dump({"rules": tachycardia}))
    return directory


def two_episodes_to_the_end() -> SyntheticWard:
    """Six patients for 360 s; P-0001 tachycardic from 20 s, P-0002 from 150 s, both to the end
    of the data: an alert that fired and resolved within the notifier's group_wait (likely in
    the backlog a restart leaves) would rightly never be notified."""
    return SyntheticWard(
        patients=6, duration_s=360, start_ms=int(time.time() * 1000), bp_interval_s=60,
        episodes=(
            Episode("tachycardia", patient=1, start_s=20, duration_s=340),
            Episode("tachycardia", patient=2, start_s=150, duration_s=210),
        ),
    )  # fmt: skip
