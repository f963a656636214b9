"""A third-party rule kind that ships no kernel, installed as a real entry-point plugin
(``vitalwatch.rule_kinds``), runs in the columnar engine through its per-reading ``step()``:
the same alerts as the reference evaluator, beside built-in kinds that run as kernels."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from vitalwatch.contracts.readings import Reading, Signal
from vitalwatch.rules.bucket import Bucket
from vitalwatch.rules.engine import ColumnarEngine
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kernel import SIGNAL_INDEX, VALUE_FIELDS, ReferenceKernel
from vitalwatch.rules.kind import PatientContext
from vitalwatch.rules.loader import load_rule_file
from vitalwatch.rules.registry import ENTRY_POINT_GROUP, registered_kinds

_PLUGIN = '''
from typing import Literal

from vitalwatch.contracts.alerts import AlertState
from vitalwatch.contracts.readings import Signal
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.spec import RuleSpec


class SpikeSpec(RuleSpec):
    kind: Literal["spike"]
    jump: float


class SpikeRule(RuleKind[SpikeSpec]):
    """Fires when a heart rate jumps by ``jump`` or more from the one before."""

    spec_model = SpikeSpec

    @property
    def signals(self):
        return frozenset({Signal.HEART_RATE})

    def step(self, state, reading, patient):
        bpm, last = reading.values["bpm"], state.get("last")
        alerts = []
        if last is not None and bpm - last >= self.spec.jump:
            alerts.append(
                self.alert(AlertState.FIRING, patient, reading.ts_ms, reading.ts_ms,
                           {"bpm": bpm}, self.spec.jump)
            )
        return {"last": bpm}, alerts
'''

RULES = """
rules:
  - id: spike
    description: a jump
    source: test
    kind: spike
    jump: 30
    severity: high
    summary: "HR jumped to {value:.0f}"
  - id: tachy
    description: fast
    source: test
    kind: threshold
    signal: heart_rate
    above: 130
    for: 2s
    severity: high
    summary: "HR {value:.0f}"
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[None]:
    (tmp_path / "vw_spike_kind.py").write_text(_PLUGIN)
    info = tmp_path / "vw_spike_kind-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vw-spike-kind\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nspike = vw_spike_kind:SpikeRule\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("vw_spike_kind", None)


def test_a_plugin_kind_without_a_kernel_runs_on_the_per_reading_fallback(
    plugin: None, tmp_path: Path
) -> None:
    assert "spike" in [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)]
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(RULES)
    rules = load_rule_file(rule_file, registered_kinds())
    engine = ColumnarEngine(rules, allowed_lateness_ms=0)
    spike, tachy = engine.kernels
    assert isinstance(spike, ReferenceKernel)  # the plugin: its own step(), per reading
    assert not isinstance(tachy, ReferenceKernel)  # the built-in kind: its kernel

    t0 = 1_795_615_200_000
    bpm = [80, 85, 120, 140, 150, 145, 90, 125, 131]
    readings = [
        Reading(Signal.HEART_RATE, t0 + i * 1000, {"bpm": float(b)}) for i, b in enumerate(bpm)
    ]
    patient = PatientContext("P-1", bed="3", ward="W")

    reference = PatientEvaluator(rules, 0)
    state = PatientState()
    expected = []
    for reading in readings:  # one call per reading, as a live feed
        expected += reference.process(state, patient, [reading], now_ms=1).alerts

    bucket = Bucket()
    got = []
    for reading in readings:
        slots = bucket.admit(["P-1"], [patient])
        alerts, late = engine.process(
            bucket,
            slots,
            np.array([SIGNAL_INDEX[Signal.HEART_RATE]], np.int8),
            np.array([reading.ts_ms], np.int64),
            np.array([[reading.values.get(f, np.nan) for f in VALUE_FIELDS]]),
            now_ms=1,
        )
        assert not late.any()
        got += alerts
        bucket = Bucket.decode(bucket.encode())  # stored between batches, its state too

    def key(alert):  # type: ignore[no-untyped-def]
        return (alert.rule_id, alert.state.value, alert.onset_ms, alert.detected_ms, alert.summary)

    assert sorted(map(key, got)) == sorted(map(key, expected))
    assert [(a.rule_id, a.state.value) for a in got] == [
        ("spike", "firing"),  # 85 -> 120
        ("tachy", "firing"),  # above 130 from 140 to 145: 2 s
        ("tachy", "resolved"),  # 90
        ("spike", "firing"),  # 90 -> 125
    ]
