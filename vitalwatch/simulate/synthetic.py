"""Synthetic patients: heart rate about every second, blood pressure every few minutes, and
(``observation_interval_s``) the monitor's SpO2 and respiration rate and an hourly temperature.

Normal patients wander inside physiological ranges that the default rules never alarm on.
Scripted episodes make specific patients abnormal (sustained tachycardia, hypotension, a sensor
dropout, and with the NEWS2 observations a respiratory deterioration: fast breathing, low SpO2
on oxygen, fever), and a share of messages is malformed in each of the ways the parser must
catch. Deterministic for a given seed, so tests can rely on who alarms.
"""

from __future__ import annotations

import csv
import heapq
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vitalwatch.contracts.readings import Signal
from vitalwatch.simulate.messages import Message

EpisodeKind = Literal["tachycardia", "hypotension", "dropout", "deterioration"]


@dataclass(frozen=True)
class Episode:
    kind: EpisodeKind
    patient: int  # 1-based index
    start_s: float
    duration_s: float

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.start_s + self.duration_s


DEFAULT_EPISODES = (
    Episode("tachycardia", patient=1, start_s=20, duration_s=150),
    Episode("hypotension", patient=2, start_s=30, duration_s=600),
    Episode("dropout", patient=3, start_s=40, duration_s=60),
    # Seen only with the NEWS2 observations: RR 3 + SpO2 3 + oxygen 2 + temperature 2 = 10.
    Episode("deterioration", patient=4, start_s=30, duration_s=600),
)
TEMPERATURE_INTERVAL_S = 3600.0


def patient_id(index: int) -> str:
    return f"P-{index:04d}"


@dataclass
class SyntheticWard:
    patients: int = 10
    duration_s: float = 600
    start_ms: int = 0
    hr_interval_s: float = 1.0
    bp_interval_s: float = 300.0
    malformed_share: float = 0.0
    episodes: tuple[Episode, ...] = DEFAULT_EPISODES
    seed: int = 7
    observation_interval_s: float | None = None  # SpO2 and respiration; None: not sent

    def write_roster(self, path: Path) -> Path:
        """A roster CSV for this ward's patients: bed 1..N, two wards of equal size."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["patient_id", "bed", "ward"])
            for p in range(1, self.patients + 1):
                writer.writerow(
                    [patient_id(p), str(p), "ICU-A" if p <= self.patients / 2 else "ICU-B"]
                )
        return path

    def _episode(self, patient: int, t_s: float, kind: EpisodeKind) -> bool:
        return any(e.patient == patient and e.kind == kind and e.active(t_s) for e in self.episodes)

    def messages(self) -> Iterator[Message]:
        """All messages in simulated-time order; the same sequence on every call."""
        rng = random.Random(self.seed)
        heart = {p: rng.uniform(65, 90) for p in range(1, self.patients + 1)}
        intervals = {
            Signal.HEART_RATE: self.hr_interval_s,
            Signal.BLOOD_PRESSURE: self.bp_interval_s,
        }
        if self.observation_interval_s is not None:
            intervals[Signal.SPO2] = intervals[Signal.RESPIRATION] = self.observation_interval_s
            intervals[Signal.TEMPERATURE] = TEMPERATURE_INTERVAL_S
        queue: list[tuple[float, int, Signal]] = []
        for p in range(1, self.patients + 1):
            for signal, interval in intervals.items():
                queue.append((rng.uniform(0, min(interval, 30)), p, signal))
        heapq.heapify(queue)
        while queue:
            t_s, p, signal = heapq.heappop(queue)
            if t_s >= self.duration_s:
                continue
            heapq.heappush(queue, (t_s + intervals[signal], p, signal))
            if self._episode(p, t_s, "dropout"):
                continue
            if signal is Signal.HEART_RATE:
                heart[p] = min(110.0, max(55.0, heart[p] + rng.gauss(0, 1.5)))
                bpm = rng.uniform(138, 152) if self._episode(p, t_s, "tachycardia") else heart[p]
                body: dict[str, object] = {"bpm": round(bpm)}
            elif signal is Signal.BLOOD_PRESSURE and self._episode(p, t_s, "hypotension"):
                body = {"systolic": rng.randint(74, 84), "diastolic": rng.randint(38, 46)}
            elif signal is Signal.BLOOD_PRESSURE:
                body = {"systolic": rng.randint(105, 140), "diastolic": rng.randint(62, 85)}
            else:
                body = _observation(rng, signal, self._episode(p, t_s, "deterioration"))
            yield self._message(rng, t_s, p, signal, body)

    def _message(
        self, rng: random.Random, t_s: float, p: int, signal: Signal, body: dict[str, object]
    ) -> Message:
        pid = patient_id(p)
        ts = self.start_ms + int(t_s * 1000)
        reading = {"patient_id": pid, "ts": ts, **body, "device_id": f"mon-{p}"}
        key = pid.encode()
        if self.malformed_share and rng.random() < self.malformed_share:
            fault = rng.choice(sorted(FAULTS))
            key, value = malformed(fault, reading, key)
            return Message(int(t_s * 1000), signal, key, value, fault, timestamp_ms=ts)
        return Message(int(t_s * 1000), signal, key, json.dumps(reading).encode(), timestamp_ms=ts)


def _observation(rng: random.Random, signal: Signal, deteriorating: bool) -> dict[str, object]:
    """An SpO2 (on oxygen while deteriorating), respiration rate or temperature reading."""
    if signal is Signal.SPO2:
        if deteriorating:
            return {"spo2": rng.randint(88, 91), "on_oxygen": True}
        return {"spo2": rng.randint(95, 99), "on_oxygen": False}
    if signal is Signal.RESPIRATION:
        return {"rate": rng.randint(25, 30) if deteriorating else rng.randint(12, 19)}
    celsius = rng.uniform(39.2, 39.8) if deteriorating else rng.uniform(36.3, 37.6)
    return {"celsius": round(celsius, 1)}


# The faults real gateways produce, and the dead-letter reason each must get.
FAULTS: dict[str, str] = {
    "bytes": "not_utf8",
    "truncated": "not_json",
    "missing": "missing_field",
    "type": "wrong_type",
    "impossible": "out_of_range",
    "key": "key_mismatch",
}


def malformed(fault: str, reading: dict[str, object], key: bytes) -> tuple[bytes, bytes]:
    broken = dict(reading)
    if fault == "bytes":
        return key, b"\xff\xfe\x00garbage"
    if fault == "truncated":
        return key, json.dumps(broken).encode()[:-7]
    field_name = next(f for f in ("bpm", "systolic", "spo2", "rate", "celsius") if f in broken)
    if fault == "missing":
        broken.pop(field_name)
    elif fault == "type":
        broken[field_name] = "high"
    elif fault == "impossible":
        broken[field_name] = 999
    else:
        key = b"P-WRONG"
    return key, json.dumps(broken).encode()
