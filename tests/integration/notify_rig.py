"""Real receivers and the notifier alone: an SMTP server (aiosmtpd), HTTP webhooks reached
through apprise's ``json://``, alerts published straight to the alerts topic with
confluent-kafka, and ``vitalwatch notify serve`` as a child process (no Spark needed)."""

from __future__ import annotations

import contextlib
import email
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from confluent_kafka import Producer

from tests.conftest import REPO, free_port
from tests.integration.conftest import Daemon, settings_env
from vitalwatch.contracts.alerts import Alert
from vitalwatch.kafka_clients import client_config, ensure_topics
from vitalwatch.settings import Settings

API_TOKEN = "integration-test-token-0123456789"


@dataclass
class Hooks:
    """One HTTP server, one webhook per path; each path's status can be set (200, 500)."""

    port: int = 0
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0  # seconds each request takes before it is accepted (a slow receiver)

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def messages(self, path: str) -> list[dict[str, Any]]:
        return list(self.received.get(path, []))

    def wait_for(self, path: str, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received.get(path, [])) < count:
            time.sleep(0.05)
        return self.messages(path)


@contextlib.contextmanager
def serve_hooks(port: int = 0) -> Iterator[Hooks]:
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = self.path.strip("/")
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hooks.requests[path] = hooks.requests.get(path, 0) + 1
            time.sleep(hooks.delay)
            status = hooks.status.get(path, 200)
            if status == 200:
                hooks.received.setdefault(path, []).append({"at": time.time(), **json.loads(body)})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    hooks.port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hooks
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[float, EmailMessage]] = field(default_factory=list)

    def url(self, to: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=vitalwatch@example.org&to={to}"

    def texts(self) -> list[tuple[str, str]]:
        """(subject, plain-text body) of every message received."""
        out = []
        for _, message in self.messages:
            part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out.append((str(message["Subject"]), payload.decode()))
        return out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((time.time(), email.message_from_bytes(envelope.content)))
        return "250 OK"


@contextlib.contextmanager
def serve_smtp() -> Iterator[Mailbox]:
    mailbox = Mailbox(free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    yield mailbox
    controller.stop()


class NotifierProcess(Daemon):
    """``vitalwatch notify serve`` as a child process, its JSON log events collected."""

    def __init__(self, settings: Settings, routing: Path, log_path: Path, **env: str) -> None:
        full = settings_env(settings, [])
        full.update(
            VITALWATCH_NOTIFY__ROUTING_FILE=str(routing),
            VITALWATCH_NOTIFY__TICK="100ms",
            VITALWATCH_NOTIFY__MAX_ATTEMPTS="3",
            VITALWATCH_NOTIFY__RETRY_BACKOFF="1s",
            VITALWATCH_API__PORT=str(settings.api.port),
            VITALWATCH_API__TOKEN_FILE=str(_token_file(settings)),
            VITALWATCH_API__PUBLIC_URL=f"http://127.0.0.1:{settings.api.port}",
            **env,
        )
        self.routing = routing
        self.events = []
        self._log = log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vitalwatch", "notify", "serve"],
            env=full, cwd=REPO, stdout=self._log, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def count(self, name: str) -> int:
        return sum(1 for e in list(self.events) if e.get("event") == name)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.wait(10)
        self._log.flush()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    with serve_hooks() as served:
        yield served


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with serve_smtp() as served:
        yield served


@pytest.fixture
def notifier(settings: Settings, tmp_path: Path) -> Iterator[Callable[[str], NotifierProcess]]:
    """Start ``notify serve`` with a routing file (its own API port); killed at the end."""
    settings.api.port = free_port()
    started: list[NotifierProcess] = []

    def start(routing: str) -> NotifierProcess:
        path = tmp_path / "routing.yaml"
        path.write_text(routing)
        process = NotifierProcess(settings, path, tmp_path / "notifier.log")
        started.append(process)
        process.wait_for_event("notify.started", timeout=30)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()


def _token_file(settings: Settings) -> Path:
    path = settings.state_dir.parent / "api-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(API_TOKEN)
    return path


def publish_alerts(settings: Settings, alerts: Iterable[Alert]) -> dict[str, float]:
    """Publish to the alerts topic; returns alert id -> publication time."""
    ensure_topics(settings)
    producer = Producer(client_config(settings))
    published = {}
    for alert in alerts:
        value = alert.to_json(emitted_ms=int(time.time() * 1000))
        producer.produce(settings.topics.alerts, key=alert.patient_id.encode(), value=value)
        published[alert.alert_id] = time.time()
    producer.flush(10)
    return published
