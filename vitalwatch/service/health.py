"""``/healthz`` (the process is alive) and ``/readyz`` (it is doing its job), as named checks.

Alive: the supervisor loop ticked recently (a deadlocked daemon is not alive even if its HTTP
thread still answers). Ready: the query is running, its dependencies answer (the broker takes a
metadata request, a file can be written in the checkpoint), and the query reported a batch or an
idle trigger within ``supervisor.stale_after``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from vitalwatch.kafka_clients import client_config
from vitalwatch.service.progress import ProgressTracker
from vitalwatch.settings import Settings

LOOP_STALE_S = 30.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class BrokerProbe:
    """Is the Kafka cluster answering? One metadata request, its answer kept a few seconds."""

    def __init__(self, settings: Settings, timeout_s: float = 2.0, cache_s: float = 5.0) -> None:
        self._admin = AdminClient(client_config(settings))
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._answer: tuple[float, Check] | None = None

    def __call__(self) -> Check:
        with self._lock:
            now = time.monotonic()
            if self._answer is None or now - self._answer[0] > self._cache_s:
                self._answer = (now, self._probe())
            return self._answer[1]

    def _probe(self) -> Check:
        try:
            metadata = self._admin.list_topics(timeout=self._timeout_s)
        except KafkaException as exc:
            return Check("broker", False, f"no answer within {self._timeout_s:g} s ({exc})")
        return Check("broker", True, f"{len(metadata.brokers)} brokers answered")


class CheckpointProbe:
    """Can the query write its checkpoint? A small file written and removed in the checkpoint
    directory and in the two a micro-batch writes first (``offsets``, then ``commits``).

    A read-only or full disk fails every batch; this names the directory that refuses, and lets
    the query supervisor wait for it instead of spending its restarts. Directories not created
    yet (before the first batch) are skipped.
    """

    def __init__(self, directory: Path) -> None:
        self._directories = (directory, directory / "offsets", directory / "commits")
        self._name = f".vitalwatch-probe-{os.getpid()}"

    def __call__(self) -> Check:
        for directory in self._directories:
            if not directory.is_dir():
                continue
            probe = directory / self._name
            try:
                probe.write_bytes(b"probe")
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                return Check("checkpoint", False, f"cannot write in {directory}: {reason}")
            probe.unlink(missing_ok=True)
        return Check("checkpoint", True, f"{self._directories[0]} is writable")


Probe = Callable[[], Check]


class HealthChecks(Protocol):
    """What ``/healthz`` and ``/readyz`` answer from: ``Health`` (the daemon), a gateway's own."""

    def liveness(self) -> list[Check]: ...

    def readiness(self) -> list[Check]: ...


class Health:
    def __init__(
        self,
        progress: ProgressTracker,
        stale_after_s: float,
        query_running: Callable[[], bool],
        dependencies: Sequence[Probe],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        self._stale_after_s = stale_after_s
        self._query_running = query_running
        self._dependencies = dependencies
        self._clock = clock
        self._loop_tick = clock()

    def tick(self) -> None:
        """The supervisor loop is alive."""
        self._loop_tick = self._clock()

    def liveness(self) -> list[Check]:
        age = self._clock() - self._loop_tick
        return [Check("supervisor_loop", age <= LOOP_STALE_S, f"last tick {age:.1f} s ago")]

    def batches_recent(self) -> Check:
        age = self._progress.age()
        if age is None:
            return Check("last_batch", False, "the query has not started")
        return Check(
            "last_batch",
            age <= self._stale_after_s,
            f"last report {age:.1f} s ago (limit {self._stale_after_s:g} s)",
        )

    def readiness(self) -> list[Check]:
        running = self._query_running()
        return [
            Check("query", running, "running" if running else "not running"),
            *(probe() for probe in self._dependencies),
            self.batches_recent(),
        ]
