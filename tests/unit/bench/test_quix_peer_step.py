"""The Quix Streams peer's per-message step, with its state stored as Quix stores it (JSON by
orjson, per patient) between messages: the same alerts as the evaluator on states held in
memory; invalid and late readings dead-lettered. What the processes of one peer share: the start
line and the drain of the backlog, whichever process read each partition."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.peer_parse import parse_reading
from bench.quix_peer import Drain, PeerEvaluator
from vitalwatch.contracts.readings import Signal
from vitalwatch.rules.evaluator import PatientEvaluator, PatientState
from vitalwatch.rules.kind import PatientContext
from vitalwatch.rules.loader import load_rules
from vitalwatch.simulate.synthetic import Episode, SyntheticWard

RULES = Path(__file__).resolve().parents[3] / "rules"
LATENESS_MS = 2_000


class StoredState:
    """Quix's ``State`` for one key, serialising as it does (orjson, dataclasses not passed)."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def get(self, key: str) -> Any:
        return orjson.loads(self.stored[key]) if key in self.stored else None

    def set(self, key: str, value: Any) -> None:
        self.stored[key] = orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATACLASS)


class Clock:
    now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def _ward() -> SyntheticWard:
    episodes = (
        Episode("tachycardia", patient=1, start_s=1, duration_s=200),
        Episode("hypotension", patient=2, start_s=0, duration_s=200),
    )
    return SyntheticWard(patients=3, duration_s=150, start_ms=1_700_000_000_000,
                         bp_interval_s=60, episodes=episodes)  # fmt: skip


def test_the_peer_step_alerts_like_the_evaluator_on_states_kept_in_memory() -> None:
    ward, clock = _ward(), Clock()
    evaluator = PatientEvaluator(load_rules(RULES), LATENESS_MS)
    step = PeerEvaluator(evaluator, clock)
    stored: dict[bytes | None, StoredState] = {}
    in_memory: dict[str, PatientState] = {}
    peer_alerts, reference = [], []
    for message in ward.messages():
        clock.now_s = (ward.start_ms + message.offset_ms) / 1000 + 0.5  # arrives 0.5 s later
        state = stored.setdefault(message.key, StoredState())
        out = step((message.signal, message.value), message.key, 0, None, state)
        peer_alerts += [json.loads(value) for kind, value, _ in out if kind == "alert"]

        patient_id, reading = parse_reading(message.signal, message.key, message.value)
        memory = in_memory.setdefault(patient_id, PatientState())
        context = PatientContext(patient_id, bed="unknown", ward="unknown", overrides={})
        now_ms = int(clock.now_s * 1000)
        deadline = evaluator.next_deadline(memory)
        if deadline is not None and deadline <= now_ms:
            reference += evaluator.tick(memory, context, now_ms)
        reference += evaluator.process(memory, context, [reading], now_ms).alerts

    def decided(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
        return [(a["rule_id"], a["patient_id"], a["state"], a["detected_ms"]) for a in alerts]

    assert decided(peer_alerts) == [
        (a.rule_id, a.patient_id, a.state.value, a.detected_ms) for a in reference
    ]
    fired = {(a["rule_id"], a["patient_id"]) for a in peer_alerts if a["state"] == "firing"}
    assert ("tachycardia-sustained", "P-0001") in fired
    assert ("systolic-news2-red", "P-0002") in fired
    assert all(patient != "P-0003" for _, patient in fired)


def test_invalid_and_late_readings_are_dead_lettered() -> None:
    clock = Clock()
    step = PeerEvaluator(PatientEvaluator(load_rules(RULES), LATENESS_MS), clock)
    state = StoredState()
    clock.now_s = 1_700_000_010.0
    reading = {"patient_id": "P-0001", "ts": 1_700_000_010_000, "bpm": 80}
    hr = Signal.HEART_RATE
    assert step((hr, json.dumps(reading).encode()), b"P-0001", 0, None, state) == []
    late = dict(reading, ts=1_700_000_000_000)  # 10 s behind: past the 2 s allowed
    out = step((hr, json.dumps(late).encode()), b"P-0001", 0, None, state)
    assert [(kind, reason) for kind, _, reason in out] == [("dead", "late")]
    out = step((hr, b'{"patient_id": "P-0001", "ts": 1}'), b"P-0001", 0, None, state)
    assert [(kind, value, reason) for kind, value, reason in out] == [
        ("dead", b'{"patient_id": "P-0001", "ts": 1}', "missing_field:bpm")
    ]
    assert (step.count, step.alerts, step.dead) == (3, 0, 2)


def test_the_backlog_is_drained_when_each_partition_s_last_record_is_read_by_any_process(
    tmp_path: Path,
) -> None:
    Drain.prepare(tmp_path, {"hr": {0: 3, 1: 2}, "bp": {0: 1, 1: 0}})  # bp 1: empty
    one, other = Drain(tmp_path), Drain(tmp_path)  # two processes of the group
    one.processed("hr", 0, 2)
    one.processed("hr", 1, 0)
    assert not one.drained() and not other.drained()
    other.processed("hr", 1, 1)  # partition 1 moved to the other process
    other.processed("bp", 0, 0)
    other.processed("hr", 1, 1)  # read again after a rebalance
    assert one.drained() and other.drained()


def test_processes_start_together_and_stop_once_drained(tmp_path: Path) -> None:
    Drain.prepare(tmp_path, {"hr": {0: 1}})
    drain, stops = Drain(tmp_path), []
    waiting = threading.Thread(target=drain.start_together, args=(0, 2))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # the second process is not ready yet
    Drain(tmp_path).start_together(1, 2)
    waiting.join(5)
    assert not waiting.is_alive()

    class Stopped(Exception):
        pass

    def stop() -> None:
        stops.append(1)
        if len(stops) == 2:  # called again until the process ends
            raise Stopped

    drain.processed("hr", 0, 0)
    with pytest.raises(Stopped):
        drain.stop_when_drained(stop, poll_s=0.001)
