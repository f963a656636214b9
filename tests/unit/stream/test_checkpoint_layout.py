"""A checkpoint written with another state layout is refused at start, with what to do; a new
one is marked with this version's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitalwatch.errors import ConfigError
from vitalwatch.stream.job import CHECKPOINT_LAYOUT, LAYOUT_FILE, check_checkpoint_layout


def test_a_new_checkpoint_is_marked_and_then_accepted(tmp_path: Path) -> None:
    checkpoint = tmp_path / "vitalwatch-rules"
    check_checkpoint_layout(checkpoint)
    assert (checkpoint / LAYOUT_FILE).read_text().strip() == CHECKPOINT_LAYOUT
    (checkpoint / "offsets").mkdir()  # the query ran
    check_checkpoint_layout(checkpoint)


def test_a_checkpoint_of_the_per_patient_json_state_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "vitalwatch-rules"
    (checkpoint / "offsets").mkdir(parents=True)  # written before the marker existed
    with pytest.raises(ConfigError, match=r"per-patient JSON state.*move the directory aside"):
        check_checkpoint_layout(checkpoint)
    assert not (checkpoint / LAYOUT_FILE).exists()  # nothing changed


def test_a_checkpoint_of_another_bucket_count_is_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "vitalwatch-rules"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / LAYOUT_FILE).write_text("state=columns-1 buckets=32\n")
    with pytest.raises(ConfigError, match="buckets=32"):
        check_checkpoint_layout(checkpoint)
