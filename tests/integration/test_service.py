"""``vitalwatch run`` as a service: one daemon run shared by the checks below, in order.

The daemon runs as a child process with a real systemd notify socket (abstract name) and a
watchdog, a real broker, real Spark and a real webhook receiver. A rule-kind plugin fails one
micro-batch from inside the query (see ``faults.py``); the query must restart from its
checkpoint without losing or duplicating a notification. SIGTERM ends the run.
A second, short run fails every restart and must end non-zero.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
import yaml

from tests.conftest import REPO, free_port
from tests.integration.conftest import (
    Daemon,
    Webhook,
    metric_sum,
    run_settings,
    scrape,
    serve_webhook,
)
from tests.integration.faults import fault_rule, install_fault_kind, publish_fault, service_env
from tests.integration.scenario import (
    publish_in_background,
    read_topic,
    tachycardia_rule_only,
    two_episodes_to_the_end,
    wait_until_idle,
    warm_up,
)
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration

WATCHDOG_USEC = 4_000_000


@dataclass
class NotifySocket:
    """A real unix datagram socket, as systemd binds for a Type=notify service."""

    name: str
    sock: socket.socket
    messages: list[tuple[float, str]] = field(default_factory=list)

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, line: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, message in list(self.messages):
                if line in message.splitlines():
                    return at
            time.sleep(0.1)
        raise AssertionError(f"no {line} within {timeout}s; got {self.messages}")


def open_notify_socket() -> NotifySocket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"@vitalwatch-test-{uuid.uuid4().hex}"
    sock.bind("\0" + name[1:])
    notify = NotifySocket(name, sock)
    threading.Thread(target=notify._read, daemon=True).start()
    return notify


@dataclass
class Service:
    settings: Settings
    daemon: Daemon
    notify: NotifySocket
    webhook: Webhook
    flag: Path
    started: float
    ready_s: float


def rules_with_fault(root: Path, flag: Path, once: bool) -> Path:
    rules = tachycardia_rule_only(root / "rules")
    (rules / "fault.yaml").write_text(fault_rule(flag, once))
    return rules


@pytest.fixture(scope="module")
def service(kafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("service")
    settings = run_settings(kafka, root)
    flag = root / "fail-once"
    settings.rules.directory = rules_with_fault(root, flag, once=True)
    notify = open_notify_socket()
    with serve_webhook() as webhook:
        env = service_env(
            settings, [webhook.url], install_fault_kind(root / "plugin"),
            NOTIFY_SOCKET=notify.name, WATCHDOG_USEC=str(WATCHDOG_USEC),
            VITALWATCH_SUPERVISOR__RESTART_BACKOFF="500ms",
        )  # fmt: skip
        started = time.monotonic()
        daemon = Daemon(env, root / "daemon.log")
        try:
            ready_at = notify.wait_for("READY=1", timeout=180)
            print(f"READY=1 {ready_at - started:.1f} s after the process started")
            warm_up(settings)
            yield Service(settings, daemon, notify, webhook, flag, started, ready_at - started)
        finally:
            if daemon.process.poll() is None:
                daemon.process.kill()
                daemon.process.wait(30)
            notify.sock.close()


@contextmanager
def running_prometheus(target_port: int, root: Path) -> Iterator[Callable[[str], list[float]]]:
    """Debian's prometheus, scraping the daemon every second with the self-monitoring rules;
    yields a function running an instant query and returning the sample values."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: install Debian's prometheus package (.ci/run does)"
    config = root / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{REPO / 'monitoring' / 'vitalwatch-rules.yaml'}]\n"
        "scrape_configs:\n  - job_name: vitalwatch\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    port = free_port()
    with (root / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"

    def query(promql: str) -> list[float]:
        url = f"{api}/query?{urlencode({'query': promql})}"
        result = json.loads(urlopen(url, timeout=10).read())["data"]["result"]
        return [float(series["value"][1]) for series in result]

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
                break
            except OSError:
                assert process.poll() is None, (root / "prometheus.log").read_text()
                assert time.monotonic() < deadline, "prometheus not ready within 60 s"
                time.sleep(0.5)
        yield query
        groups = json.loads(urlopen(f"{api}/rules", timeout=10).read())["data"]["groups"]
        shipped = yaml.safe_load((REPO / "monitoring" / "vitalwatch-rules.yaml").read_text())
        assert [len(g["rules"]) for g in groups] == [len(g["rules"]) for g in shipped["groups"]]
        assert {r["health"] for r in groups[0]["rules"]} == {"ok"}
    finally:
        process.terminate()
        process.wait(30)


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_ready_status_and_watchdog_on_the_notify_socket(service: Service) -> None:
    ready = [m for _, m in service.notify.messages if "READY=1" in m.splitlines()]
    assert len(ready) == 1
    assert re.search(r"^STATUS=running \d+ rules; ready after [\d.]+ s$", ready[0], re.MULTILINE)
    # Batches have run (warm-up): the daemon pings the watchdog every WATCHDOG_USEC / 2.
    first = service.notify.wait_for("WATCHDOG=1", timeout=10)
    time.sleep(WATCHDOG_USEC / 1e6)
    pings = [at for at, m in service.notify.messages if m == "WATCHDOG=1" and at >= first]
    assert len(pings) >= 2
    status = [m for _, m in service.notify.messages if m.startswith("STATUS=")]
    assert any(re.match(r"STATUS=[\d.]+ records/s processed", m) for m in status), status


def test_health_and_readiness_endpoints(service: Service) -> None:
    base = f"http://127.0.0.1:{service.settings.http.port}"
    assert get_json(base + "/healthz")[0] == 200
    status, body = get_json(base + "/readyz")
    assert (status, body["status"], body["failed"]) == (200, "ready", [])
    assert set(body["checks"]) == {"query", "broker", "checkpoint", "last_batch"}


def test_a_real_scrape_passes_promtool_check_metrics(service: Service) -> None:
    url = f"http://127.0.0.1:{service.settings.http.port}/metrics"
    text = urlopen(url, timeout=10).read().decode()
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: install Debian's prometheus package (.ci/run does)"
    checked = subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    samples = scrape(service.settings)
    hr_topic = service.settings.topics.heart_rate
    assert f'vitalwatch_kafka_lag_records{{topic="{hr_topic}"}}' in samples
    assert metric_sum(samples, "vitalwatch_state_rows") >= 1
    assert metric_sum(samples, "vitalwatch_last_batch_timestamp_seconds") > time.time() - 120
    assert "vitalwatch_query_restarts_total" in samples
    assert not re.search(r"P-\d{4}", text)  # no patient in any label


def test_a_real_prometheus_scrapes_the_daemon(service: Service, tmp_path: Path) -> None:
    with running_prometheus(service.settings.http.port, tmp_path) as query:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and query('up{job="vitalwatch"}') != [1.0]:
            time.sleep(1)
        assert query('up{job="vitalwatch"}') == [1.0]
        assert query('sum(vitalwatch_readings_total{outcome="ok"})')[0] >= 1  # the warm-up
        assert query("vitalwatch_query_up") == [1.0]
        assert query('count({__name__=~"vitalwatch_.+"}) > 20')


def test_a_batch_failing_inside_the_query_restarts_it_from_its_checkpoint(
    service: Service,
) -> None:
    settings, webhook = service.settings, service.webhook
    publisher, _ = publish_in_background(two_episodes_to_the_end(), settings)
    webhook.wait_for(1, timeout=90)
    service.flag.touch()
    publish_fault(settings)  # the next micro-batch raises in the Python worker
    service.daemon.wait_for_event("query.failed", timeout=60)
    restarted = service.daemon.wait_for_event("query.restarted", timeout=60)
    assert restarted["failures_in_window"] == 1
    assert not service.flag.exists()  # the failing batch ran, and ran again after the restart

    publisher.join(60)
    webhook.wait_for(2, timeout=120)
    wait_until_idle(settings)
    time.sleep(3)  # a duplicate, if any, would have been delivered by now
    notified = list(webhook.received)
    patients = sorted(re.search(r"Patient (P-\d+)", n["message"]).group(1) for n in notified)
    on_topic = [json.loads(m.value()) for m in read_topic(settings, settings.topics.alerts, 50, 10)]
    firing = sorted({(a["patient_id"], a["state"]) for a in on_topic})
    assert patients == ["P-0001", "P-0002"], f"alerts on the topic: {firing}"
    notified_ids = {re.search(r"Alert id (\S+)", n["message"]).group(1) for n in notified}
    assert len(notified_ids) == 2
    samples = scrape(settings)
    assert metric_sum(samples, "vitalwatch_query_restarts_total") == 1
    assert metric_sum(samples, "vitalwatch_technical_alerts_total", component="query") == 1
    failed = service.daemon.wait_for_event("query.failed", timeout=1)
    assert "RuntimeError" in failed["error"] and "P-0999" not in json.dumps(failed)
    technical = [
        json.loads(m.value()) for m in read_topic(settings, settings.topics.deadletter, 1, 30)
        if dict(m.headers() or []).get("reason") == b"technical:query"
    ]  # fmt: skip
    assert [t["technical_alert"] for t in technical] == ["query.failed"]


def test_sigterm_drains_and_exits_zero_within_the_bound(service: Service) -> None:
    sent = time.monotonic()
    assert service.daemon.stop(timeout=90) == 0
    took = time.monotonic() - sent
    print(f"SIGTERM to exit: {took:.1f} s")
    stopping = service.notify.wait_for("STOPPING=1", timeout=1)
    assert stopping - sent < 5
    stopped = service.daemon.wait_for_event("daemon.stopped", timeout=1)
    assert stopped["exit_code"] == 0
    drain_bound_s = service.settings.supervisor.drain_timeout / 1000
    assert stopped["batch_drain_s"] <= drain_bound_s
    assert took < drain_bound_s + 30


def test_repeated_failures_end_the_process_non_zero(kafka, tmp_path: Path) -> None:
    settings = run_settings(kafka, tmp_path)
    flag = tmp_path / "fail-always"
    flag.touch()
    settings.rules.directory = rules_with_fault(tmp_path, flag, once=False)
    env = service_env(
        settings, [], install_fault_kind(tmp_path / "plugin"),
        VITALWATCH_SUPERVISOR__RESTART_BACKOFF="200ms",
        VITALWATCH_SUPERVISOR__MAX_FAILURES="3",
    )  # fmt: skip
    daemon = Daemon(env, tmp_path / "daemon.log")
    try:
        daemon.wait_for_event("daemon.ready", timeout=180)
        publish_fault(settings)
        assert daemon.process.wait(120) == 1
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
    time.sleep(0.5)  # the log reader thread drains stderr
    names = [e["event"] for e in daemon.events if e["event"].startswith("query.")]
    assert names.count("query.failed") == 2 and names.count("query.restarted") == 2
    assert "query.gave_up" in names
    gave_up = next(e for e in daemon.events if e["event"] == "query.gave_up")
    assert gave_up["technical_alert"] is True and gave_up["failures"] == 3
    assert daemon.events[-1]["event"] == "daemon.stopped"
    assert daemon.events[-1]["exit_code"] == 1
