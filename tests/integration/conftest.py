"""Real processes: the KRaft broker (project tooling), an HTTP webhook, the daemon itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, free_port
from vitalwatch.contracts.readings import Signal
from vitalwatch.infra.broker import LocalBroker, ScramListener
from vitalwatch.infra.jarsets import kafka_broker_jars
from vitalwatch.infra.java import Java
from vitalwatch.settings import Settings, load_settings

# Every topic of a run: each signal's readings (contract v2), alerts, dead letters, heartbeat.
TOPICS = (*(signal.value for signal in Signal), "alerts", "deadletter", "heartbeat")


def new_broker(
    directory: Path, java: Java, settings: Settings, secured: ScramListener | None = None
) -> LocalBroker:
    """A broker of the project's tooling on free loopback ports (its controller's too)."""
    jars = tuple(kafka_broker_jars(settings.cache_dir, java))
    return LocalBroker(directory, free_port(), jars, java, secured=secured, controller=free_port())


@pytest.fixture(scope="session")
def kafka(
    tmp_path_factory: pytest.TempPathFactory, java: Java, base_settings: Settings
) -> Iterator[LocalBroker]:
    broker = new_broker(tmp_path_factory.mktemp("kafka"), java, base_settings)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def own_broker(
    tmp_path_factory: pytest.TempPathFactory, java: Java, base_settings: Settings
) -> Iterator[LocalBroker]:
    """A broker for the module alone, for tests that stop it (the session's serves the rest)."""
    broker = new_broker(tmp_path_factory.mktemp("own-kafka"), java, base_settings)
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received) < count:
            time.sleep(0.2)
        return list(self.received)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with serve_webhook() as hook:
        yield hook


@contextlib.contextmanager
def serve_webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if hook.status == 200:
                hook.received.append({"at": time.time(), **json.loads(body)})
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"json://127.0.0.1:{server.server_port}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hook
    server.shutdown()


@pytest.fixture
def settings(kafka: LocalBroker, tmp_path: Path) -> Settings:
    return run_settings(kafka, tmp_path)


def run_settings(kafka: LocalBroker, root: Path) -> Settings:
    """Settings of one test: its own topics (every signal's), consumer group and state on the
    shared broker."""
    run = uuid.uuid4().hex[:8]
    return load_settings(
        state_dir=root / "state",
        kafka={"bootstrap_servers": kafka.bootstrap_servers},
        topics={name: f"t{run}.{name}" for name in TOPICS},
        rules={"directory": clinical_rules(root / "rules")},
        http={"port": free_port()},
        notify={"consumer_group": f"notifier-{run}", "retry_backoff": "200ms"},
    )


def clinical_rules(directory: Path) -> Path:
    """The shipped rules without the no-data ones: a scenario's warm-up patient, and every
    patient once the scenario ends, would rightly raise no-data alerts two minutes later; these
    tests count clinical notifications (no-data has its own tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted((REPO / "rules").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        document["rules"] = [r for r in document["rules"] if r["kind"] != "no_data"]
        (directory / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
    return directory


def settings_env(settings: Settings, receivers: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALWATCH_")}
    env.update(
        VITALWATCH_LOG_FORMAT="json",
        VITALWATCH_STATE_DIR=str(settings.state_dir),
        VITALWATCH_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        VITALWATCH_RULES__DIRECTORY=str(settings.rules.directory),
        VITALWATCH_HTTP__PORT=str(settings.http.port),
        VITALWATCH_NOTIFY__URLS=json.dumps(receivers),
        VITALWATCH_NOTIFY__CONSUMER_GROUP=settings.notify.consumer_group,
        VITALWATCH_NOTIFY__RETRY_BACKOFF="200ms",
    )
    if settings.roster is not None:
        env["VITALWATCH_ROSTER"] = str(settings.roster)
    if settings.notify.routing_file is not None:
        env["VITALWATCH_NOTIFY__ROUTING_FILE"] = str(settings.notify.routing_file)
    for name in TOPICS:
        env[f"VITALWATCH_TOPICS__{name.upper()}"] = getattr(settings.topics, name)
    return env


class Daemon:
    """``vitalwatch run`` (or another long-running command: ``args``) as a child process, its
    JSON log events collected."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        command: tuple[str, ...] = (sys.executable, "-m", "vitalwatch"),
        args: tuple[str, ...] = ("run",),
    ) -> None:
        self.events: list[dict[str, Any]] = []
        self._log = log_path.open("a")
        self.process = subprocess.Popen(
            [*command, *args],
            env=env, cwd=REPO, stdout=self._log, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._log.write(line)
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    self.events.append(json.loads(line))

    def wait_for_event(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("event") == name:
                    return event
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode} before {name}")
            time.sleep(0.2)
        raise AssertionError(f"no {name} event within {timeout}s")

    def stop(self, timeout: float = 60, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(timeout)
        self._log.flush()
        return code


@pytest.fixture
def start_daemon(settings: Settings, tmp_path: Path) -> Iterator[Callable[[list[str]], Daemon]]:
    started: list[Daemon] = []

    def start(receivers: list[str]) -> Daemon:
        daemon = Daemon(settings_env(settings, receivers), tmp_path / "daemon.log")
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(30)


def scrape(settings: Settings) -> dict[str, float]:
    """The daemon's /metrics as {'name{labels}': value}."""
    from urllib.request import urlopen

    text = urlopen(f"http://127.0.0.1:{settings.http.port}/metrics", timeout=5).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    total = 0.0
    for key, value in samples.items():
        if key.split("{")[0] == name and all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total
