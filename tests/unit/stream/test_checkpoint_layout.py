"""The checkpoint's state layout and bucket count: a new checkpoint is marked with the configured
count, an existing one keeps its own (Spark cannot re-bucket state), and one written with another
state layout is refused at start, with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from vitalwatch.errors import ConfigError
from vitalwatch.stream.job import LAYOUT_FILE, STATE_LAYOUT, checkpoint_buckets


def test_a_new_checkpoint_is_marked_with_the_configured_buckets(tmp_path: Path) -> None:
    checkpoint = tmp_path / "vitalwatch-rules"
    assert checkpoint_buckets(checkpoint, 16) == 16
    assert (checkpoint / LAYOUT_FILE).read_text().strip() == f"{STATE_LAYOUT} buckets=16"
    (checkpoint / "offsets").mkdir()  # the query ran
    assert checkpoint_buckets(checkpoint, 16) == 16


def test_a_checkpoint_keeps_its_own_bucket_count_and_says_so(tmp_path: Path) -> None:
    """A checkpoint made before the default changed (64 buckets) goes on with 64, with a warning
    naming both counts; its marker is left as it is."""
    checkpoint = tmp_path / "vitalwatch-rules"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / LAYOUT_FILE).write_text(f"{STATE_LAYOUT} buckets=64\n")
    with capture_logs() as logs:
        assert checkpoint_buckets(checkpoint, 16) == 64
    assert [(e["event"], e["buckets"], e["configured"]) for e in logs] == [
        ("checkpoint.buckets_kept", 64, 16)
    ]
    assert (checkpoint / LAYOUT_FILE).read_text().strip() == f"{STATE_LAYOUT} buckets=64"
    with capture_logs() as logs:
        assert checkpoint_buckets(checkpoint, 64) == 64
    assert logs == []


def test_a_checkpoint_of_the_per_patient_json_state_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "vitalwatch-rules"
    (checkpoint / "offsets").mkdir(parents=True)  # written before the marker existed
    with pytest.raises(ConfigError, match=r"per-patient JSON state.*move the directory aside"):
        checkpoint_buckets(checkpoint, 16)
    assert not (checkpoint / LAYOUT_FILE).exists()  # nothing changed


@pytest.mark.parametrize("marker", ["state=columns-2 buckets=16", "state=columns-1 buckets=x"])
def test_a_checkpoint_of_another_layout_is_refused(tmp_path: Path, marker: str) -> None:
    checkpoint = tmp_path / "vitalwatch-rules"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / LAYOUT_FILE).write_text(marker + "\n")
    with pytest.raises(ConfigError, match=f"written with {marker}"):
        checkpoint_buckets(checkpoint, 16)
