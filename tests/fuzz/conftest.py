"""Fixtures of the fuzz tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fuzz.config_mutations import libyaml_safe_load
from vitalwatch import yaml_input

SHARED_MEMORY = Path("/dev/shm")


@pytest.fixture
def libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loaders read YAML with libyaml's parser for the length of a test."""
    monkeypatch.setattr(yaml, "safe_load", libyaml_safe_load)
    monkeypatch.setattr(yaml_input, "_Loader", yaml_input.strict_loader(yaml.CSafeLoader))


@pytest.fixture
def scratch_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a loader fuzz test writes its files (50,000 each): in memory when the machine has
    /dev/shm (a third of the test's time went to the file system otherwise)."""
    if not SHARED_MEMORY.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=SHARED_MEMORY, prefix="vitalwatch-fuzz-") as directory:
        yield Path(directory)
