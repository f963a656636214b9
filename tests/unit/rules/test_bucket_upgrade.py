"""State written by earlier versions reads back: before the NEWS2 signals (two signals, four
value columns), and deflated instead of Zstandard."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import zstandard

from vitalwatch.contracts.readings import Signal
from vitalwatch.rules.bucket import Bucket
from vitalwatch.rules.engine import ColumnarEngine
from vitalwatch.rules.kernel import NO_TIME, SIGNAL_INDEX, SIGNALS, VALUE_FIELDS, VALUE_INDEX
from vitalwatch.rules.kind import PatientContext
from vitalwatch.rules.loader import load_rules

REPO_RULES = Path(__file__).resolve().parents[3] / "rules"


def _version_1(bucket: Bucket) -> bytes:
    """The bucket as version 1 stored it: rows for blood pressure and heart rate only, held
    readings with bpm, systolic, diastolic and mean."""
    old = Bucket.decode(bucket.encode())
    old.watermark, old.paired = old.watermark[:2], old.paired[:2]
    old.arrived, old.released = old.arrived[:2], old.released[:2]
    old.held = [held.take(np.arange(len(held))) for held in old.held[:2]]
    for held in old.held:
        held.values = held.values[:, :4]
    return old.encode()


def _bucket_with_held_readings() -> Bucket:
    engine = ColumnarEngine(load_rules(REPO_RULES), allowed_lateness_ms=2_000)
    bucket = Bucket()
    slots = bucket.admit(["P-1", "P-2"], [PatientContext("P-1"), PatientContext("P-2")])
    signal = np.array([SIGNAL_INDEX[Signal.HEART_RATE], SIGNAL_INDEX[Signal.BLOOD_PRESSURE]])
    values = np.full((2, len(VALUE_FIELDS)), np.nan)
    values[0, VALUE_INDEX["bpm"]] = 130.0
    values[1, [VALUE_INDEX["systolic"], VALUE_INDEX["diastolic"]]] = (85.0, 50.0)
    engine.process(
        bucket, slots, signal.astype(np.int8), np.array([10_000, 10_000]), values, now_ms=1
    )
    assert any(len(held) for held in bucket.held)  # readings held back by the lateness
    return bucket


def test_a_deflated_bucket_reads_back_as_the_same_state() -> None:
    bucket = _bucket_with_held_readings()
    stored = bucket.encode()
    assert stored.startswith(b"VWB2")
    deflated = b"VWB1" + zlib.compress(zstandard.ZstdDecompressor().decompress(stored[4:]), 1)

    assert Bucket.decode(deflated).encode() == stored


def test_a_bucket_of_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="layout"):
        Bucket.decode(b"VWB9" + bytes(16))


def test_a_version_1_bucket_reads_back_with_the_new_signals_empty() -> None:
    bucket = _bucket_with_held_readings()

    upgraded = Bucket.decode(_version_1(bucket))

    assert upgraded.watermark.shape == (len(SIGNALS), 2)
    for name in ("watermark", "paired", "arrived", "released"):
        assert np.array_equal(getattr(upgraded, name), getattr(bucket, name)), name
    for old, new in zip(bucket.held, upgraded.held, strict=True):
        assert np.array_equal(new.slot, old.slot) and np.array_equal(new.ts, old.ts)
        assert np.array_equal(new.values, old.values, equal_nan=True)
    assert (upgraded.watermark[2:] == NO_TIME).all()
    assert upgraded.rules.keys() == bucket.rules.keys()
