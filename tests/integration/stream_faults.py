"""Fault injection on the streaming side: what the tests in ``test_faults_stream`` need besides
the rule plugins of ``faults.py``: readings that must alert, Spark's processes found in /proc, a
directory made read-only even for root, and counts read back from the broker and the daemon."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from tests.integration.conftest import Daemon, Webhook, metric_sum, scrape
from vitalwatch.contracts.readings import Signal
from vitalwatch.kafka_clients import make_consumer
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message

TACHYCARDIA_S = 75  # the shipped rule fires after 60 s above 130/min; the rest passes the lateness


def tachycardia(patient: str, start_ms: int) -> list[Message]:
    """One patient's heart rate at 145/min every second for ``TACHYCARDIA_S`` s of event time:
    published at once, the shipped tachycardia rule fires on it within a micro-batch or two."""
    return [
        Message(0, Signal.HEART_RATE, patient.encode(),
                json.dumps({"patient_id": patient, "ts": start_ms + s * 1000, "bpm": 145}).encode())
        for s in range(TACHYCARDIA_S)
    ]  # fmt: skip


def malformed(patient: str) -> list[Message]:
    """Two readings the parser must dead-letter (``not_json``, ``out_of_range``)."""
    now = int(time.time() * 1000)
    return [
        Message(0, Signal.HEART_RATE, patient.encode(), b'{"patient_id": "' + patient.encode()),
        Message(0, Signal.HEART_RATE, patient.encode(),
                json.dumps({"patient_id": patient, "ts": now, "bpm": 999}).encode()),
    ]  # fmt: skip


def notified_patients(webhook: Webhook) -> Counter[str]:
    """Notifications per patient (each test's patient alerts once: one alert, one message)."""
    return Counter(
        re.search(r"Patient (P-\d+)", n["message"]).group(1)  # type: ignore[union-attr]
        for n in webhook.received
    )


def wait_for_notified(webhook: Webhook, patient: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and patient not in notified_patients(webhook):
        time.sleep(0.2)
    assert patient in notified_patients(webhook), f"{patient} not notified in {timeout} s"


def published_readings(settings: Settings) -> int:
    """Records on the reading topics, from the broker's high watermarks."""
    consumer = make_consumer(settings, "offsets-check")
    try:
        total = 0
        for topic in (settings.topics.heart_rate, settings.topics.blood_pressure):
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for partition in partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
                total += high
        return total
    finally:
        consumer.close()


def reading_counts(settings: Settings) -> dict[str, float]:
    """What the running daemon counted: readings by outcome, and dead letters."""
    samples = scrape(settings)
    return {
        "ok": metric_sum(samples, "vitalwatch_readings_total", outcome="ok"),
        "invalid": metric_sum(samples, "vitalwatch_readings_total", outcome="invalid"),
        "deadletter": metric_sum(samples, "vitalwatch_deadletter_total"),
    }


def event_after(daemon: Daemon, name: str, mark: int, timeout: float) -> dict[str, Any]:
    """The first ``name`` log event after the first ``mark`` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in daemon.events[mark:]:
            if event.get("event") == name:
                return event
        assert daemon.process.poll() is None, f"daemon exited before {name}"
        time.sleep(0.2)
    raise AssertionError(f"no {name} event within {timeout} s")


def events_after(daemon: Daemon, mark: int) -> list[str]:
    return [e["event"] for e in daemon.events[mark:]]


def technical_alerts_after(daemon: Daemon, mark: int) -> list[str]:
    """The technical alerts the daemon raised after its first ``mark`` log events (a slow
    machine may add ``query.stalled`` to those a test causes)."""
    return [e["event"] for e in daemon.events[mark:] if e.get("technical_alert")]


def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            table[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), command)
    return table


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root``, with its command line."""
    table = _process_table()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, command) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = command
                frontier.append(pid)
    return found


def spark_python_workers(daemon_pid: int) -> tuple[int, list[int]]:
    """The daemon's Spark JVM and the ``pyspark.daemon`` processes (the daemon and the workers
    it forked) below that JVM."""
    below = descendants(daemon_pid)
    # The executable's name, not its path: a JVM forking a process runs ``jspawnhelper`` from
    # its own directory (".../java-17-openjdk-amd64/lib/jspawnhelper"), seen below the daemon.
    jvms = [pid for pid, command in below.items() if Path(command.split(" ")[0]).name == "java"]
    assert len(jvms) == 1, below
    workers = [pid for pid, command in descendants(jvms[0]).items() if "pyspark.daemon" in command]
    return jvms[0], workers


@contextlib.contextmanager
def read_only(directories: Sequence[Path]) -> Iterator[str]:
    """The directories refuse new files until the block ends; yields how.

    ``chmod a-w`` stops nobody running as root (CI does): there the immutable attribute
    (``chattr +i``: ext2/3/4, XFS, Btrfs, tmpfs since Linux 6.0), which even root cannot write
    through. Files already in the directories stay writable; new ones (Spark's next offsets and
    commit files) cannot be created.
    """
    root = os.geteuid() == 0
    protect, release = (["chattr", "+i"], ["chattr", "-i"]) if root else (
        ["chmod", "a-w"], ["chmod", "u+w"]
    )  # fmt: skip
    paths = [str(d) for d in directories]
    subprocess.run([*protect, *paths], check=True, capture_output=True)
    try:
        yield " ".join(protect)
    finally:
        subprocess.run([*release, *paths], check=True, capture_output=True)
