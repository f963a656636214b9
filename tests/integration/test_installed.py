"""vitalwatch as installed: a virtual environment's console script, not activated.

This is how ``systemd/vitalwatch.service`` starts it
(``ExecStart=/opt/vitalwatch/venv/bin/vitalwatch ... run``): the PATH does not lead to the
environment, so the ``python3`` found there lacks vitalwatch's packages. Spark's Python workers
used to start that ``python3``, and every job failed with ``ModuleNotFoundError``. Here the
PATH's ``python3`` is a bare interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.conftest import Daemon, settings_env
from tests.integration.scenario import warm_up
from vitalwatch.contracts.readings import Signal
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Installed:
    console_script: Path
    path: str  # a PATH whose python3 has none of vitalwatch's packages

    def env(self, **variables: str) -> dict[str, str]:
        """As systemd gives it: no variables but these (JAVA_HOME kept when the machine sets it)."""
        env = {"HOME": os.environ.get("HOME", "/root"), "PATH": self.path, **variables}
        if "JAVA_HOME" in os.environ:
            env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("installed")
    venv, bare = root / "venv", root / "bare"
    # The dependencies come from this interpreter's site-packages (no network, no minutes of
    # pyspark unpacking); vitalwatch itself is built and installed into it as a package.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    # Built from a copy of what the Dockerfile copies: setuptools builds inside the source tree,
    # which a test must leave as it is.
    source = root / "source"
    shutil.copytree(REPO / "vitalwatch", source / "vitalwatch",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, source / part)
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", source],
        check=True, cwd=root,
    )  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True)
    probe = subprocess.run(
        [bare / "bin" / "python3", "-c", "import orjson"], capture_output=True, cwd=root
    )
    assert probe.returncode != 0, "the bare interpreter must lack vitalwatch's packages"
    yield Installed(venv / "bin" / "vitalwatch", f"{bare / 'bin'}:/usr/bin:/bin")


def _stay(directory: Path) -> Path:
    """One PhysioNet 2012 stay in its file format: hypotensive cuff readings an hour apart."""
    directory.mkdir()
    rows = ["Time,Parameter,Value", "00:00,RecordID,900001"]
    for hour, systolic in enumerate([120, 85, 80, 118]):
        rows += [f"{hour:02d}:00,HR,88", f"{hour:02d}:00,NISysABP,{systolic}",
                 f"{hour:02d}:00,NIDiasABP,50"]  # fmt: skip
    (directory / "900001.txt").write_text("\n".join(rows) + "\n")
    return directory


def test_installed_backtest_runs_with_a_path_that_does_not_lead_to_the_environment(
    installed: Installed, tmp_path: Path
) -> None:
    result = subprocess.run(
        [installed.console_script, "backtest", "--input", _stay(tmp_path / "stays"),
         "--rules", REPO / "rules", "--format", "csv"],
        env=installed.env(VITALWATCH_STATE_DIR=str(tmp_path / "state")),
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ModuleNotFoundError" not in result.stderr
    news2 = next(line for line in result.stdout.splitlines() if line.startswith("systolic-news2"))
    assert news2.split(",")[1] == "1"  # one episode: systolic <= 90 at hours 1 and 2


def test_installed_daemon_delivers_its_first_alert(
    installed: Installed, settings: Settings, webhook, tmp_path: Path
) -> None:
    env = installed.env(**{k: v for k, v in settings_env(settings, [webhook.url]).items()
                           if k.startswith("VITALWATCH_")})  # fmt: skip
    daemon = Daemon(env, tmp_path / "daemon.log", command=(str(installed.console_script),))
    try:
        daemon.wait_for_event("daemon.ready", timeout=180)
        warm_up(settings)
        now = int(time.time() * 1000)
        cuff = b'{"patient_id":"P-0007","ts":%d,"systolic":82,"diastolic":50}' % now
        beat = b'{"patient_id":"P-0007","ts":%d,"bpm":90}' % now
        publish(
            [Message(0, Signal.BLOOD_PRESSURE, b"P-0007", cuff),
             Message(0, Signal.HEART_RATE, b"P-0007", beat)],
            settings, 0,
        )  # fmt: skip
        notifications = webhook.wait_for(1, timeout=120)
        assert any("systolic-news2-red" in n["title"] for n in notifications), notifications
        assert daemon.stop() == 0
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(30)
    assert "ModuleNotFoundError" not in (tmp_path / "daemon.log").read_text()
