"""The Quix Streams peer's virtual environment, made on demand, and the peer run in it.

``bench/.venv-quix`` (git-ignored) is created from ``bench/quix-requirements.txt`` the first
time, and again when that file changes; vitalwatch is installed into it without its
dependencies (the peer needs no Spark).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

from bench.harness import REPO
from bench.quix_peer import Drain
from vitalwatch.settings import Settings

VENV = REPO / "bench" / ".venv-quix"
REQUIREMENTS = REPO / "bench" / "quix-requirements.txt"


def peer_python() -> Path:
    """The venv's interpreter, (re)built when the requirements changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / "requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(REPO)], check=True)
    stamp.write_text(wanted)
    return python


def start_peers(
    settings: Settings, ends: dict[str, dict[int, int]], processes: int, workdir: Path
) -> list[subprocess.Popen[bytes]]:
    """The peer over the settings' reading topics, writing to their alerts and dead-letter
    topics, in ``processes`` processes of one new consumer group, each with a state directory of
    its own; they stop once the group has read the topics up to ``ends`` and leave their
    figures in ``workdir/<index>/stats``."""
    topics = settings.topics
    Drain.prepare(workdir / "shared", ends)
    command = [
        str(peer_python()), "-m", "bench.quix_peer",
        "--bootstrap", settings.kafka.bootstrap_servers,
        "--heart-rate", topics.heart_rate, "--blood-pressure", topics.blood_pressure,
        "--alerts", topics.alerts, "--deadletter", topics.deadletter,
        "--group", f"quix-peer-{uuid.uuid4().hex[:8]}",
        "--rules", str(settings.rules.directory),
        "--lateness", str(settings.rules.allowed_lateness),
        "--shared", str(workdir / "shared"),
        "--processes", str(processes),
    ]  # fmt: skip
    peers = []
    for index in range(processes):
        own = workdir / str(index)
        own.mkdir()
        peers.append(subprocess.Popen([*command, "--index", str(index), "--state-dir",
                                       str(own / "state"), "--stats", str(own / "stats")],
                                      cwd=REPO))  # fmt: skip
    return peers
