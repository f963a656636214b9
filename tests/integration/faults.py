"""A rule kind that fails on purpose, installed as a real plugin (``vitalwatch.rule_kinds``
entry point) for the daemon under test only: its directory goes on the daemon's PYTHONPATH,
where Spark's Python workers find it too.

It raises inside the micro-batch, in the Python worker, when it sees a heart rate of
``FAULT_BPM`` while its flag file exists; ``once: true`` removes the flag as it raises, so the
batch succeeds when the restarted query runs it again.
"""

from __future__ import annotations

import time
from pathlib import Path

from vitalwatch.contracts.readings import Signal
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish

FAULT_BPM = 213

_MODULE = """
from pathlib import Path
from typing import Literal

from vitalwatch.contracts.readings import Signal
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.spec import RuleSpec


class FaultSpec(RuleSpec):
    kind: Literal["fault"]
    bpm: float
    flag_file: str
    once: bool = True


class FaultRule(RuleKind[FaultSpec]):
    spec_model = FaultSpec

    @property
    def signals(self):
        return frozenset({Signal.HEART_RATE})

    def step(self, state, reading, patient):
        flag = Path(self.spec.flag_file)
        if reading.values.get("bpm") == self.spec.bpm and flag.exists():
            if self.spec.once:
                flag.unlink()
            raise RuntimeError("fault injected by the test")
        return state, []
"""


def install_fault_kind(root: Path) -> Path:
    """Write the plugin (module + dist-info with the entry point); returns the path entry."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vw_fault_kind.py").write_text(_MODULE)
    info = root / "vw_fault_kind-0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vw-fault-kind\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[vitalwatch.rule_kinds]\nfault = vw_fault_kind:FaultRule\n"
    )
    return root


def fault_rule(flag: Path, once: bool) -> str:
    return (
        "rules:\n  - id: injected-fault\n    description: fails a batch on purpose\n"
        "    source: test\n    kind: fault\n    severity: low\n    summary: never\n"
        f"    bpm: {FAULT_BPM}\n    flag_file: {flag}\n    once: {str(once).lower()}\n"
    )


def publish_fault(settings: Settings) -> None:
    """The faulty reading, and a normal one 5 s later that moves the patient's watermark past
    it (the evaluator holds a reading back for ``allowed_lateness`` before the rules see it)."""
    now = int(time.time() * 1000)
    messages = [
        Message(0, Signal.HEART_RATE, b"P-0999",
                f'{{"patient_id":"P-0999","ts":{ts},"bpm":{bpm}}}'.encode())
        for ts, bpm in ((now, FAULT_BPM), (now + 5000, 70))
    ]  # fmt: skip
    publish(messages, settings, speed=0)
