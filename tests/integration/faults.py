"""Rule kinds that misbehave on purpose, installed as a real plugin (``vitalwatch.rule_kinds``
entry point) for the daemon under test only: its directory goes on the daemon's PYTHONPATH,
where Spark's Python workers find it too.

``fault`` raises inside the micro-batch, in the Python worker, when it sees a heart rate of
``FAULT_BPM`` while its flag file exists; ``once: true`` removes the flag as it raises, so the
batch succeeds when the restarted query runs it again.

``hold`` holds a micro-batch open: on a heart rate of ``HOLD_BPM`` while its flag file exists it
removes the flag, writes its Python worker's pid to its marker file, and sleeps ``hold_s``; a
test then kills something while the batch is known to be in progress, and the re-run batch
passes (the flag is gone).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.integration.conftest import settings_env
from vitalwatch.contracts.readings import Signal
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import Message, publish

FAULT_BPM = 213
HOLD_BPM = 214

_MODULE = """
import os
import time
from pathlib import Path
from typing import Literal

from vitalwatch.contracts.readings import Signal
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.spec import RuleSpec


class FlagSpec(RuleSpec):
    bpm: float
    flag_file: str


class OnFlaggedReading:  # acts on a heart rate of ``bpm`` while the flag file exists

    @property
    def signals(self):
        return frozenset({Signal.HEART_RATE})

    def step(self, state, reading, patient):
        flag = Path(self.spec.flag_file)
        if reading.values.get("bpm") == self.spec.bpm and flag.exists():
            self.act(flag)
        return state, []


class FaultSpec(FlagSpec):
    kind: Literal["fault"]
    once: bool = True


class FaultRule(OnFlaggedReading, RuleKind[FaultSpec]):
    spec_model = FaultSpec

    def act(self, flag):
        if self.spec.once:
            flag.unlink()
        raise RuntimeError("fault injected by the test")


class HoldSpec(FlagSpec):
    kind: Literal["hold"]
    marker_file: str
    hold_s: float


class HoldRule(OnFlaggedReading, RuleKind[HoldSpec]):
    spec_model = HoldSpec

    def act(self, flag):
        flag.unlink()
        marker = Path(self.spec.marker_file)
        marker.with_suffix(".tmp").write_text(str(os.getpid()))
        marker.with_suffix(".tmp").rename(marker)
        time.sleep(self.spec.hold_s)
"""


def install_fault_kind(root: Path) -> Path:
    """Write the plugin (module + dist-info with the entry point); returns the path entry."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vw_fault_kind.py").write_text(_MODULE)
    info = root / "vw_fault_kind-0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vw-fault-kind\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[vitalwatch.rule_kinds]\nfault = vw_fault_kind:FaultRule\nhold = vw_fault_kind:HoldRule\n"
    )
    return root


def fault_rule(flag: Path, once: bool) -> str:
    return (
        "rules:\n  - id: injected-fault\n    description: fails a batch on purpose\n"
        "    source: test\n    kind: fault\n    severity: low\n    summary: never\n"
        f"    bpm: {FAULT_BPM}\n    flag_file: {flag}\n    once: {str(once).lower()}\n"
    )


def service_env(settings: Settings, receivers: list[str], plugin: Path, **extra: str) -> dict:
    """The daemon's environment for ``settings``, with the plugin on its PYTHONPATH."""
    env = settings_env(settings, receivers)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


def hold_rule(flag: Path, marker: Path, hold_s: float) -> str:
    return (
        "rules:\n  - id: injected-hold\n    description: holds a batch open on purpose\n"
        "    source: test\n    kind: hold\n    severity: low\n    summary: never\n"
        f"    bpm: {HOLD_BPM}\n    flag_file: {flag}\n    marker_file: {marker}\n"
        f"    hold_s: {hold_s}\n"
    )


def fault_messages(bpm: int = FAULT_BPM) -> list[Message]:
    """A reading of ``bpm``, and a normal one 5 s later that moves the patient's watermark past
    it (the evaluator holds a reading back for ``allowed_lateness`` before the rules see it)."""
    now = int(time.time() * 1000)
    return [
        Message(0, Signal.HEART_RATE, b"P-0999",
                f'{{"patient_id":"P-0999","ts":{ts},"bpm":{value}}}'.encode())
        for ts, value in ((now, bpm), (now + 5000, 70))
    ]  # fmt: skip


def publish_fault(settings: Settings) -> None:
    """The faulty reading, then one that lets the rules see it (``fault_messages``)."""
    publish(fault_messages(), settings, speed=0)


def held_worker(marker: Path, timeout: float) -> int:
    """The pid of the Python worker holding a batch open (written by the ``hold`` rule)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert time.monotonic() < deadline, f"no batch held within {timeout} s"
        time.sleep(0.1)
    pid = int(marker.read_text())
    marker.unlink()
    os.kill(pid, 0)  # it is alive, holding the batch
    return pid
