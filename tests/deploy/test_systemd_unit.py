"""systemd/vitalwatch.service passes ``systemd-analyze verify`` and says what the issue asks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO

UNIT = REPO / "systemd" / "vitalwatch.service"


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify(unit_text: str, tmp_path: Path) -> str:
    """Everything ``systemd-analyze verify`` says about the unit (no output: clean)."""
    path = tmp_path / "vitalwatch.service"
    path.write_text(unit_text)
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: install the systemd package (.ci/run does)"
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=60
    )
    said = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return "\n".join(said) + (f"\nexit {result.returncode}" if result.returncode else "")


def installed_unit() -> str:
    """The shipped unit, ExecStart pointed at this machine's ``vitalwatch`` script."""
    script = shutil.which("vitalwatch")
    assert script, "the vitalwatch script is not installed (pip install -e .)"
    return UNIT.read_text().replace("/opt/vitalwatch/venv/bin/vitalwatch", script)


def test_the_unit_verifies_clean(tmp_path: Path) -> None:
    assert verify(installed_unit(), tmp_path) == ""


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    said = verify(installed_unit().replace("Type=notify", "Type=notify\nWatchdogSecs=1"), tmp_path)
    assert "Unknown key" in said and "WatchdogSecs" in said
    assert "not executable" in verify(UNIT.read_text(), tmp_path)  # /opt/... does not exist here


def test_the_unit_is_a_supervised_hardened_notify_service() -> None:
    unit = directives(UNIT.read_text())
    one = {key: values[-1] for key, values in unit.items()}
    assert one["Type"] == "notify" and one["NotifyAccess"] == "main"
    assert one["Restart"] == "on-failure" and one["WatchdogSec"]
    assert one["KillMode"] == "mixed"  # SIGTERM to vitalwatch only: it drains the JVM itself
    assert one["User"] == "vitalwatch" and one["StateDirectory"] == "vitalwatch"
    assert "VITALWATCH_STATE_DIR=/var/lib/vitalwatch" in unit["Environment"]
    assert one["LoadCredential"].startswith("notify-urls:")
    assert "VITALWATCH_NOTIFY__URLS_FILE=%d/notify-urls" in unit["Environment"]
    for hardening in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices",
                      "ProtectKernelTunables", "RestrictSUIDSGID", "LockPersonality"):  # fmt: skip
        assert one[hardening] == "yes", hardening
    assert one["ProtectSystem"] == "strict"
    assert "MemoryDenyWriteExecute" not in unit  # the JVM's JIT needs writable+executable pages
