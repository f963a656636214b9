"""``vitalwatch demo`` as a newcomer runs it: what the console shows, and how it stops.

The whole demo (its own broker, simulator, Spark, daemon) runs in a process group of its own,
as under ``timeout`` or a terminal, and the group gets SIGTERM once the first notification has
printed (about 35 s after start, as the README says).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration

FIRST_NOTIFICATION_S = 180.0
STOP_S = 90.0
# What flooded the console before: Spark's log4j warnings and the Python workers' output.
SPARK_CHATTER = (
    "Current batch is falling behind",
    "doesn't contain a value",
    "TransformWithStateInPandas Python worker",
    "WARN ",
)
CRASH_MARKS = ("Traceback", "Exception in thread", "at org.apache", "Py4J", "py4j")


def _broker_port() -> int:
    """A free port whose successor (the demo broker's controller) is free too."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise AssertionError("no two adjacent free ports")


class _Lines:
    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def test_the_demo_console_shows_events_and_notifications_and_a_group_sigterm_ends_it_cleanly(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VITALWATCH_")}
    env.update(
        VITALWATCH_STATE_DIR=str(state),
        VITALWATCH_KAFKA__BOOTSTRAP_SERVERS=f"127.0.0.1:{_broker_port()}",
        VITALWATCH_HTTP__PORT=str(free_port()),
    )
    demo = subprocess.Popen(
        [sys.executable, "-m", "vitalwatch", "demo"], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    out, err = _Lines(demo.stdout), _Lines(demo.stderr)
    try:
        deadline = time.monotonic() + FIRST_NOTIFICATION_S
        while "NOTIFICATION" not in out.text and demo.poll() is None:
            assert time.monotonic() < deadline, f"no notification in {FIRST_NOTIFICATION_S} s"
            time.sleep(0.5)
        assert demo.poll() is None, f"the demo exited {demo.returncode}:\n{err.text[-3000:]}"
        os.killpg(demo.pid, signal.SIGTERM)  # as `timeout` or `kill -TERM -<pgid>` does
        code = demo.wait(STOP_S)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(30)
    time.sleep(1)  # the readers' last lines
    console = out.text + err.text
    (tmp_path / "console.txt").write_text(console)  # for a failing run

    assert code == 0, err.text[-3000:]
    assert [m for m in CRASH_MARKS if m in console] == [], console[-3000:]
    assert [c for c in SPARK_CHATTER if c in console] == [], console[-3000:]
    # Standard error carries vitalwatch's events only (JSON here, not on a terminal).
    # ... and librdkafka's own lines (its clients may retry while the new broker starts), not
    # one of them about the broker that the demo stopped.
    kafka_lines = [line for line in err.lines if not line.startswith("{")]
    assert all(line.startswith("%") for line in kafka_lines), "".join(kafka_lines)
    assert [line for line in kafka_lines if "Connect to" in line or "Disconnected" in line] == []
    events = [json.loads(line) for line in err.lines if line.startswith("{")]
    names = [e["event"] for e in events]
    spark_log = state / "logs" / "spark.log"
    starting = next(e for e in events if e["event"] == "demo.starting")
    assert names.index("demo.starting") < 3
    assert starting["spark_log"] == str(spark_log)
    assert starting["kafka_log"] == str(state / "kafka" / "logs" / "server.log")
    assert names.index("daemon.stopped") < names.index("kafka.stopped")
    assert next(e for e in events if e["event"] == "daemon.stopped")["exit_code"] == 0
    # Standard output: the notifications, each a framed block.
    blocks = out.text.split("+" + "=" * 72)
    # P-0001's NEWS2 of 5 (medium: after its 5 s group wait) and P-0004's of 8 (high: at once)
    # both print ~35 s after start, in either order.
    assert re.search(r"\| NOTIFICATION  \[(HIGH|MEDIUM)\] firing: ", out.text), out.text
    assert len(blocks) >= 3 and all(
        line.startswith("|") for line in blocks[1].strip("\n").splitlines()
    ), out.text
    # Spark's own output is in its log file: log4j's warnings and the Python workers' lines.
    logged = spark_log.read_text()
    assert "TransformWithStateInPandas Python worker" in logged
    assert " WARN " in logged
    # Nothing is left running: the broker the demo started, the Spark JVM.
    assert not (state / "kafka" / "broker.pid").exists()
    deadline = time.monotonic() + 30
    while _processes_mentioning(str(state)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_mentioning(str(state)) == []
