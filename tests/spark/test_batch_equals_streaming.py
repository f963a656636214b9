"""The same rules give the same alerts in batch and in streaming, over every signal.

Readings: per patient, a heart rate about every second, a cuff reading (systolic, diastolic,
mean sent or left to the parser to compute) every 1-5 min, and the other NEWS2 observations
(SpO2 with or without its air or oxygen and respiration rate every 5-15 s, a temperature every
10 min, a level of consciousness at each phase's start), in phases of levels that drive every
default rule (``rules/``: thresholds on heart rate and MAP, NEWS2 on systolic, the systolic
trend, shock index pairing heart rate with the cuff, the NEWS2 aggregate over every signal,
no_data on heart rate)
and extra rules (``EXTRA_RULES``) of the kinds the defaults lack: baseline, count_in_window (in a
window and consecutive), derived pulse pressure, a trend on heart rate, a shock index with a
short ``for`` and ``freshness``, no_data on the cuff, some with re-notification. Gaps at the
start of a phase: heart rate short (either side of the threshold's ``max_gap``) or long (over
no_data's ``for``), the cuff paused (over its no_data's ``for``).

Streaming: the job's RuleProcessor driven micro-batch by micro-batch (PySpark's TwsTester, in
processing-time mode), both patients in one state bucket. Processing time is the arrival time
(epoch ms): each reading arrives less than 2 s after its event time. With a lateness of 2 s, out
of order within that, the topics as far apart; with the defaults (no lateness), each patient's
signal in order, as Kafka keeps a key's records per topic, and the topics in no order relative
to each other within the default pairing wait: a delay common to the patient's signals and one of
less than the pairing wait of each reading's own (``bench.cross_topic`` measured the project's
publisher's signals at most 243 ms apart). Spark runs a
micro-batch every trigger (drawn, 1-5 s; the daemon's heartbeat makes it run without readings
too): its input first, then the timers due. Triggers with neither would do nothing and are
skipped. After the last arrival the clock runs on past every deadline but the state's TTL.
Batch: the same readings as Kafka records through ``build_outputs`` as a Spark batch job
(``run_rules``, as backtests do).

The alerts are the same within what the rules promise, and the readings are generated within it:

- The NEWS2 aggregate scores a time once every signal the patient sends has caught up with it
  or gone quiet for the pairing wait (``rules/kinds/news2_aggregate.py``): exact while the
  delays of a patient's readings (arrival less event time) differ across its signals by less
  than the pairing wait, as here (README, "Event time and lateness").
- Cross-signal pairing (``derived``) is exact while a cuff reading reaches the rule within
  ``_HISTORY_MS`` (15 s) of the heart rates it holds (``rules/kinds/derived.py``). Here a cuff
  reading arrives within a delay (2 s), is taken in by the next trigger and released once the
  cuff has been quiet for the pairing wait (at most 2 s), at a trigger: so by 4 s + 2 triggers
  after its event time, while the heart rates released to the rule are the pairing wait behind
  the newest arrival: at most 2 s + 2 triggers (12 s) past the cuff reading. Never a backlog of
  minutes in one micro-batch, where the rule chooses bounded state over exactness.
- ``no_data`` is the one kind that reacts to time without readings (README, "Time without
  readings"). Live, its timer fires ``for`` after the micro-batch the last reading came in (the
  processor's arrival time), at the first micro-batch at or after that, and the firing is
  detected then; if the next reading is taken in first, the rule sees the gap in event time, as
  over history, where a gap is seen when the next reading comes and the firing is detected at
  the last reading + ``for``. So:
  (1) a gap *between* readings gives the same alerts: the same firing (id and onset; when it was
  noticed, and so the silence in its summary and values, is checked apart: live within
  [onset + for, onset + for + delay + 2 triggers), over history at onset + for) and the same
  resolving alert, at the next reading. The generated gaps are ``for`` or longer, or shorter by
  more than an arrival delay: just under ``for``, arrival delays can stretch the silence the
  timer sees past it, and the live alert fires where history has none, by design.
  (2) the final silence of each feed is seen live only: the stream runs past it and must fire
  once per patient and no_data rule, with that signal's last reading as onset, and those alerts
  are then left out of the comparison (history cannot see them). Ending the streamed run
  before the final silence instead would leave that firing unchecked.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.stream.input_rows import (
    PandasTester,
    blood_pressure_row,
    heart_rate_row,
    observation_row,
    output_rows,
)
from vitalwatch.backtest.run import run_rules
from vitalwatch.contracts.readings import ACVPU_FIELD, ACVPU_LEVELS, ON_OXYGEN_FIELD, Signal
from vitalwatch.rules.kind import RuleKind
from vitalwatch.rules.kinds.no_data import NoDataRule
from vitalwatch.rules.loader import load_rule_file, load_rules
from vitalwatch.settings import RuleSettings, Settings
from vitalwatch.stream.processor import RuleProcessor

pytestmark = pytest.mark.spark

T0 = 1_795_615_200_000
LATENESS_MS = 2_000  # the lateness of the first parametrisation, and every arrival's bound
PATIENTS = ("P-1", "P-2")
MAX_TRIGGER_MS = 5_000
MAX_FEED_S = 20 * 60  # a patient's feed, at most (the streamed run's time grows with it)

# The kinds the default rules lack, a shock index with a short ``for`` and ``freshness``, and
# no_data on the cuff.
EXTRA_RULES = """
rules:
  - id: heart-rate-above-baseline
    description: Heart rate 25/min above the patient's own baseline.
    source: test
    kind: baseline
    signal: heart_rate
    change: 25
    half_life: 3m
    warm_up: 2m
    clear_after: 20s
    cooldown: 5m
    severity: low
    summary: "HR {value:.1f} up {limit:.0f} on baseline - bed {bed}"
  - id: heart-rate-spikes
    description: Five heart rates above 140 within 30 s.
    source: test
    kind: count_in_window
    signal: heart_rate
    above: 140
    count: 5
    window: 30s
    clear_after: 20s
    cooldown: 2m
    renotify: 1m
    severity: low
    summary: "HR {value:.1f} above {limit:.0f} ({duration}) - bed {bed}"
  - id: systolic-low-run
    description: Three cuff readings in a row with systolic below 100.
    source: test
    kind: count_in_window
    signal: systolic
    below: 100
    count: 3
    consecutive: true
    window: 20m
    cooldown: 10m
    severity: low
    summary: "Systolic {value:.0f} below {limit:.0f} ({duration}) - bed {bed}"
  - id: shock-index-brief
    description: Shock index above 0.9 on readings spanning 2 min, heart rate at most 20 s old.
    source: test
    kind: derived
    signal: shock_index
    above: 0.9
    freshness: 20s
    for: 2m
    max_gap: 6m
    clear_after: 3m
    cooldown: 5m
    renotify: 4m
    severity: low
    summary: "Shock index {value:.2f} above {limit:.1f} for {duration} - bed {bed}"
  - id: pulse-pressure-wide
    description: Pulse pressure above 60 mmHg on readings spanning 3 min.
    source: test
    kind: derived
    signal: pulse_pressure
    above: 60
    for: 3m
    max_gap: 6m
    clear_after: 4m
    cooldown: 10m
    renotify: 5m
    severity: low
    summary: "Pulse pressure {value:.0f} above {limit:.0f} for {duration} - bed {bed}"
  - id: heart-rate-rising
    description: Heart rate rising by 30/min within 2 min.
    source: test
    kind: trend
    signal: heart_rate
    change: 30
    window: 2m
    clear_after: 30s
    cooldown: 5m
    severity: low
    summary: "HR rose to {value:.1f} (change {limit:.0f}) - bed {bed}"
  - id: blood-pressure-no-data
    description: No cuff reading for 6 min.
    source: test
    kind: no_data
    signal: blood_pressure
    for: 6m
    severity: low
    summary: "No cuff reading for {duration} - bed {bed}"
"""

# What a phase's readings are around: a heart rate and a cuff reading (systolic, diastolic),
# together crossing the rules' limits: bradycardia (<41) and tachycardia (>130) sustained,
# spikes above 140 (with noise), NEWS2 pulse and systolic scores (3 at <=40, >=131 / <=90),
# their aggregate (6 at 135 with 85/50, 5 at 35 with 95/58, 4-5 at 115 with 88/50), MAP below 65
# (85/50, 88/50), shock index above 1 (about 1.0 at 150/150 and 125/120: noise decides), pulse
# pressure above 60 (150/80, 185/95); changes between phases drive baseline, trends and falls of
# over 40 mmHg.
LEVELS = (
    (75, (120, 75)),  # stable
    (125, (120, 75)),  # tachycardic, shock index about 1
    (125, (105, 78)),  # compensated shock: shock index 1.2, narrow pulse pressure
    (135, (85, 50)),  # septic shock: everything at once
    (100, (95, 58)),  # hypotension: shock index 1.05 +- noise
    (150, (150, 80)),  # fast, shock index 1.0 +- noise, wide pulse pressure
    (75, (185, 95)),  # hypertensive, pulse pressure 90
    (35, (95, 58)),  # bradycardia and hypotension: NEWS2 aggregate 5
    (115, (88, 50)),  # hypotension: NEWS2 aggregate 4-5, MAP 63 +- noise
)
# Gaps (s) at the start of a phase: heart rate short (either side of the threshold's max_gap of
# 30 s; with the next beat at most 112.25 s, under no_data's 2 min by more than an arrival delay)
# or long (2 min or more, from just over: the next reading may come before the live timer fires,
# or after); the cuff paused (it resumes more than 6 min after the last cuff reading, its
# no_data's ``for``, while its normal interval of 1-5 min is at most 5 min 19 s with jitter).
# The other NEWS2 observations of a phase: SpO2 (with air or oxygen: None not sent), respiration
# rate, temperature and consciousness, from a well patient (0) to an emergency (3 + 3 + 2 +
# 2 + 3 with the pulse and systolic above) and around the band edges (91/92 %, 20/21, 38.0/38.1).
OBSERVATIONS = (
    (97.0, None, 16.0, 37.0, "A"),
    (93.0, True, 22.0, 38.1, "A"),
    (91.0, True, 26.0, 39.2, "V"),
    (92.0, False, 20.0, 38.0, "C"),
    (95.0, None, 10.0, 35.4, "A"),
)
HEART_GAPS = st.one_of(st.just(0), st.just(0), st.integers(3, 110), st.integers(120, 300))
CUFF_GAPS = st.one_of(st.just(0), st.just(0), st.integers(360, 540))


@dataclass(frozen=True)
class Phase:
    minutes: int  # after the heart-rate gap
    heart: int
    cuff: tuple[int, int]
    noise: int  # heart rates spread uniformly +-noise, on a 0.5 grid
    jitter: bool  # heart rates every 1 s +-250 ms (else on the second)
    heart_gap_s: int  # silence of the heart-rate feed at the start of the phase
    cuff_gap_s: int  # silence of the cuff from the start of the phase (into the next ones)
    cuff_every_s: int
    mean_sent: bool  # the cuff reports its mean (else the parser computes it)
    observations: tuple[float, bool | None, float, float, str]  # OBSERVATIONS
    monitor_every_s: int  # SpO2 and respiration rate


phases = st.lists(
    st.builds(
        lambda minutes, level, *rest: Phase(minutes, *level, *rest),
        st.integers(2, 12),
        st.sampled_from(LEVELS),
        st.sampled_from([0, 3, 8]),
        st.booleans(),
        HEART_GAPS,
        CUFF_GAPS,
        st.integers(60, 300),
        st.booleans(),
        st.sampled_from(OBSERVATIONS),
        st.sampled_from([5, 15]),
    ),
    min_size=2,
    max_size=3,
)

Heart = tuple[int, float]  # ts, bpm
Cuff = tuple[int, float, float, float | None]  # ts, systolic, diastolic, mean (None: not sent)


Observation = tuple[int, dict[str, float]]  # ts, values as the parser gives them

NEWS2_SIGNALS = (Signal.SPO2, Signal.RESPIRATION, Signal.TEMPERATURE, Signal.CONSCIOUSNESS)


@dataclass
class Feed:
    heart: list[Heart]
    cuff: list[Cuff]
    observed: dict[Signal, list[Observation]]

    def readings(self) -> list[tuple[Signal, list[Any]]]:
        return [
            (Signal.HEART_RATE, self.heart),
            (Signal.BLOOD_PRESSURE, self.cuff),
            *self.observed.items(),
        ]


def feed(patient_phases: list[Phase], start: int, rng: random.Random) -> Feed:
    """A patient's readings, cut at MAX_FEED_S; ``rng`` (seeded by hypothesis) spreads values
    and times."""
    out = Feed([], [], {signal: [] for signal in NEWS2_SIGNALS})
    t = cuff_from = start
    for phase in patient_phases:
        end = min(t + (phase.heart_gap_s + phase.minutes * 60) * 1000, start + MAX_FEED_S * 1000)
        beat = t + phase.heart_gap_s * 1000 + (1000 if out.heart else 0)
        while beat < end:
            bpm = phase.heart + rng.uniform(-phase.noise, phase.noise)
            out.heart.append((beat, round(bpm * 2) / 2))
            beat += 1000 + (rng.randint(-250, 250) if phase.jitter else 0)
        systolic, diastolic = phase.cuff
        cuff_from = max(cuff_from, t + phase.cuff_gap_s * 1000)
        for at in range(cuff_from, end - 10_000, phase.cuff_every_s * 1000):
            s = float(systolic + rng.randint(-4, 4))
            d = float(min(diastolic + rng.randint(-3, 3), s))
            mean = round((s + 2 * d) / 3 + rng.choice([-2, 0, 2]), 1) if phase.mean_sent else None
            out.cuff.append((at + rng.randrange(0, 10) * 1000, s, d, mean))
        observe(out.observed, phase, t + phase.heart_gap_s * 1000, end, rng)
        t = end
    return out


def observe(
    observed: dict[Signal, list[Observation]],
    phase: Phase,
    start: int,
    end: int,
    rng: random.Random,
) -> None:
    """A phase's NEWS2 observations: the monitor's SpO2 and respiration rate every
    ``monitor_every_s`` (+-2 s), a temperature every 10 min and the level of consciousness at
    the start, values spread a little."""
    spo2, on_oxygen, rate, celsius, level = phase.observations
    acvpu = {ACVPU_FIELD: float(ACVPU_LEVELS.index(level))}
    observed[Signal.CONSCIOUSNESS].append((start + rng.randrange(0, 3000), acvpu))
    for at in range(start, end, phase.monitor_every_s * 1000):
        saturation = {"spo2": min(100.0, spo2 + rng.choice([-1.0, 0.0, 0.0, 1.0]))}
        if on_oxygen is not None:
            saturation[ON_OXYGEN_FIELD] = float(on_oxygen)
        observed[Signal.SPO2].append((at + rng.randrange(-2000, 2000), saturation))
        breathing = {"rate": rate + rng.choice([-1.0, 0.0, 1.0])}
        observed[Signal.RESPIRATION].append((at + rng.randrange(-2000, 2000), breathing))
    for at in range(start, end, 600_000):
        degrees = {"celsius": round(celsius + rng.choice([-0.1, 0.0, 0.1]), 1)}
        observed[Signal.TEMPERATURE].append((at + rng.randrange(0, 60_000), degrees))
    for readings in observed.values():
        readings.sort(key=lambda reading: reading[0])


def observation_message(patient: str, ts: int, values: dict[str, float]) -> bytes:
    """As a gateway writes it: on_oxygen a JSON boolean, acvpu its letter."""
    body: dict[str, Any] = {"patient_id": patient, "ts": ts, **values}
    if ON_OXYGEN_FIELD in values:
        body[ON_OXYGEN_FIELD] = values[ON_OXYGEN_FIELD] == 1.0
    if ACVPU_FIELD in values:
        body[ACVPU_FIELD] = ACVPU_LEVELS[int(values[ACVPU_FIELD])]
    return json.dumps(body).encode()


def heart_message(patient: str, ts: int, bpm: float) -> bytes:
    return json.dumps({"patient_id": patient, "ts": ts, "bpm": bpm}).encode()


def cuff_message(patient: str, ts: int, s: float, d: float, mean: float | None) -> bytes:
    body: dict[str, Any] = {"patient_id": patient, "ts": ts, "systolic": s, "diastolic": d}
    if mean is not None:
        body["mean"] = mean
    return json.dumps(body).encode()


def input_row(patient: str, signal: Signal, reading: tuple) -> dict[str, Any]:
    if signal in NEWS2_SIGNALS:
        ts, values = reading
        return observation_row(patient, signal, ts, values, observation_message(patient, *reading))
    if signal is Signal.HEART_RATE:
        ts, bpm = reading
        return heart_rate_row(patient, ts, bpm, heart_message(patient, ts, bpm))
    ts, s, d, mean = reading
    return blood_pressure_row(patient, ts, s, d, mean, cuff_message(patient, ts, s, d, mean))


Arrival = tuple[int, str, Signal, tuple]  # processing time, patient, signal, reading


def arrivals(
    feeds: dict[str, Feed], in_order: bool, skew_ms: int, rng: random.Random
) -> list[Arrival]:
    """Each reading less than LATENESS_MS after its event time: a delay common to the patient's
    signals and one of less than ``skew_ms`` of its own; in order per patient and signal
    (``in_order``), or not."""
    out: list[Arrival] = []
    for patient, f in feeds.items():
        common = rng.randrange(0, LATENESS_MS - skew_ms + 1)
        for signal, readings in f.readings():
            arrived = 0
            for reading in readings:
                at = reading[0] + common + rng.randrange(0, skew_ms)
                arrived = max(arrived, at) if in_order else at
                out.append((arrived, patient, signal, reading))
    out.sort(key=lambda a: a[0])
    return out


def stream(
    rules: list[RuleKind[Any]],
    lateness_ms: int,
    arriving: list[Arrival],
    trigger_ms: int,
    first_trigger: int,
    end: int,
) -> list[dict[str, Any]]:
    """The processor's alerts, a micro-batch per trigger up to ``end`` (processing time)."""
    processor = RuleProcessor(rules, lateness_ms, "alerts", "deadletter")
    tester = PandasTester(processor, timeMode="ProcessingTime")
    tws, timers = tester.tester, tester.handle._timers

    def trigger_from(ms: int) -> int:
        return first_trigger + math.ceil((ms - first_trigger) / trigger_ms) * trigger_ms

    out, i, now = [], 0, trigger_from(arriving[0][0])
    while now <= end:
        j = i
        while j < len(arriving) and arriving[j][0] <= now:
            j += 1
        # As in Spark: the batch's time is the trigger's, at or after every arrival in it; its
        # input runs first, then the timers due (at or before it).
        tws._currentProcessingTimeMs = now
        if j > i:
            out += tester.test(0, [input_row(p, s, r) for _, p, s, r in arriving[i:j]])
            i = j
        out += output_rows(tws._handleExpiredTimers())
        # The next trigger with input or a timer due; those between would do nothing.
        pending = [t for key in timers.getAllKeysWithTimers() for t in timers.listTimers(key)]
        due = [trigger_from(arriving[i][0])] if i < len(arriving) else []
        due += [trigger_from(min(pending))] if pending else []
        if not due:
            break
        now = max(min(due), now + trigger_ms)
    assert i == len(arriving)
    assert all(r.topic == "alerts" for r in out), "nothing may be late here"
    return [json.loads(r.value) for r in out]


def batch(spark: Any, base_settings: Settings, rules: list, feeds: dict[str, Feed]) -> list:
    records = []
    for patient, f in feeds.items():
        for ts, bpm in f.heart:
            records.append((heart_message(patient, ts, bpm), base_settings.topics.heart_rate))
        for ts, s, d, mean in f.cuff:
            records.append(
                (cuff_message(patient, ts, s, d, mean), base_settings.topics.blood_pressure)
            )
        for signal in NEWS2_SIGNALS:
            topic = base_settings.topics.reading(signal)
            records += [(observation_message(patient, *r), topic) for r in f.observed[signal]]
    rows = [
        (json.loads(value)["patient_id"].encode(), value, topic, 0, offset, None)
        for offset, (value, topic) in enumerate(records)
    ]
    return run_rules(spark, base_settings, rules, rows, messages=True)  # the whole messages


@pytest.fixture(scope="module")
def rules(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> list:
    extra = Path(tmp_path_factory.mktemp("rules")) / "extra.yaml"
    extra.write_text(EXTRA_RULES, encoding="utf-8")
    return [*load_rules(base_settings.rules.directory), *load_rule_file(extra)]


@pytest.mark.parametrize(
    ("lateness_ms", "in_order", "skew_ms"),
    [
        (LATENESS_MS, False, LATENESS_MS),
        (RuleSettings().allowed_lateness, True, RuleSettings().pairing_wait),
    ],
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_batch_and_streaming_give_the_same_alerts(
    spark, base_settings, rules, lateness_ms, in_order, skew_ms, data
) -> None:
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    trigger_ms = data.draw(st.integers(1_000, MAX_TRIGGER_MS), label="trigger_ms")
    feeds = {
        p: feed(data.draw(phases, label=p), T0 + k * rng.randrange(0, 90_000), rng)
        for k, p in enumerate(PATIENTS)
    }
    arriving = arrivals(feeds, in_order, skew_ms, rng)
    by_id = {rule.spec.id: rule for rule in rules}
    no_data = {r.spec.id: r for r in rules if isinstance(r, NoDataRule)}
    longest_silence = max(r.spec.for_ for r in no_data.values())
    first_trigger = arriving[0][0] - rng.randrange(0, trigger_ms)
    end = arriving[-1][0] + longest_silence + LATENESS_MS + 2 * trigger_ms
    streamed = stream(rules, lateness_ms, arriving, trigger_ms, first_trigger, end)
    batched = batch(spark, base_settings, rules, feeds)

    # The final silence of each feed: seen live only (the module docstring).
    last = {
        (p, signal): readings[-1][0]
        for p, f in feeds.items()
        for signal, readings in f.readings()
        if readings
    }

    def final_silence(alert: dict[str, Any]) -> bool:
        rule = no_data.get(alert["rule_id"])
        if rule is None:
            return False
        return last.get((alert["patient_id"], Signal(rule.spec.signal))) == alert["onset_ms"]

    finals = Counter(
        (a["patient_id"], a["rule_id"], a["state"]) for a in streamed if final_silence(a)
    )
    assert finals == Counter(
        (p, rule_id, "firing")
        for rule_id, rule in no_data.items()
        for p in PATIENTS
        if (p, Signal(rule.spec.signal)) in last
    ), finals
    streamed = [a for a in streamed if not final_silence(a)]

    # A no_data firing is detected when noticed: live, at the first micro-batch at or after
    # ``for`` past the one the last reading came in; over history, at the last reading + for.
    for alerts, bound in ((streamed, LATENESS_MS + 2 * trigger_ms), (batched, 1)):
        for a in alerts:
            if a["rule_id"] in no_data and a["state"] == "firing":
                late_by = a["detected_ms"] - a["onset_ms"] - no_data[a["rule_id"]].spec.for_
                assert 0 <= late_by < bound, a

    def key(a: dict[str, Any]) -> tuple:
        if a["rule_id"] in no_data and a["state"] == "firing":
            return (a["alert_id"], a["state"], a["onset_ms"])
        values = tuple(sorted(a["values"].items()))
        return (a["alert_id"], a["state"], a["detected_ms"], a["repeat"], a["summary"], values)

    streamed_keys, batched_keys = sorted(map(key, streamed)), sorted(map(key, batched))
    for rule_id, state in sorted({(a["rule_id"], a["state"]) for a in batched}):
        event(f"{by_id[rule_id].spec.kind} {rule_id} {state}")
    only_streamed = [k for k in streamed_keys if k not in batched_keys]
    only_batched = [k for k in batched_keys if k not in streamed_keys]
    assert streamed_keys == batched_keys, (only_streamed, only_batched)
