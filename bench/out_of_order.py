"""How often readings of one patient and signal arrive out of order, per source (issue #19).

Kafka keeps the order of a key's records within a partition, and every publisher here is one
idempotent producer (``enable.idempotence``), whose retries keep that order too; readings are
keyed by patient and each signal has its own topic. So the rules see a patient's readings of a
signal in the order the source produced them, and that order is what is counted here: a reading
is *out of order* when its event time is older than the newest already produced for the same
patient and signal (the evaluator released it, with no lateness hold, so it would be late), and
a *repeat* when it equals it. No Kafka, no Spark: the sources' message lists are read as they
would be published.

Readings stamped more than ``rules.max_clock_skew`` ahead of their record's timestamp are left
out, as the query dead-letters them (``future``) before the rules see them.

    python -m bench.out_of_order [--stays 300]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from vitalwatch.settings import RuleSettings
from vitalwatch.simulate.messages import Message
from vitalwatch.simulate.physionet import stay_messages
from vitalwatch.simulate.synthetic import SyntheticWard

PHYSIONET_SET_A = Path("/work/shared/data/physionet2012/set-a")


@dataclass
class Disorder:
    readings: int = 0
    repeats: int = 0  # same event time as the newest of its patient and signal
    behind_ms: list[int] = field(default_factory=list)  # out of order: how far behind the newest

    def within(self, lateness_ms: int) -> int:
        return sum(1 for b in self.behind_ms if b <= lateness_ms)

    def row(self, source: str) -> str:
        behind = sorted(self.behind_ms)
        worst = f"{behind[-1] / 1000:g} s" if behind else "-"
        median = f"{behind[len(behind) // 2] / 1000:g} s" if behind else "-"
        return (
            f"| {source} | {self.readings:,} | {len(behind):,} | {self.within(2_000):,} | "
            f"{median} | {worst} | {self.repeats:,} |"
        )


def count(messages: Iterable[Message], max_clock_skew_ms: int) -> Disorder:
    """Out-of-order readings among ``messages``, in the order they are published."""
    newest: dict[tuple[bytes | None, str], int] = {}
    found = Disorder()
    for message in messages:
        try:
            ts = int(orjson.loads(message.value)["ts"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # malformed on purpose: dead-lettered by the parser
        if message.timestamp_ms is not None and ts > message.timestamp_ms + max_clock_skew_ms:
            continue  # ``future``: never reaches the rules
        found.readings += 1
        key = (message.key, message.signal.value)
        before = newest.get(key)
        if before is None or ts > before:
            newest[key] = ts
        elif ts == before:
            found.repeats += 1
        else:
            found.behind_ms.append(before - ts)
    return found


def synthetic() -> Iterator[Message]:
    """The simulator as ``bench.latency`` and ``vitalwatch demo`` run it, 2% malformed."""
    ward = SyntheticWard(patients=1_000, duration_s=300, bp_interval_s=60, malformed_share=0.02)
    return ward.messages()


def physionet(stays: int) -> Iterator[Message]:
    """``stays`` PhysioNet 2012 stays, one patient each, as ``vitalwatch replay`` sends them."""
    for path in sorted(PHYSIONET_SET_A.glob("*.txt"))[:stays]:
        yield from stay_messages(path, 0)


def fault_tests() -> dict[str, list[Message]]:
    """What the fault tests publish (tests/integration): the skewed clocks and the burst of
    test_faults_input_and_delivery, the tachycardic patients of test_faults_stream (with the
    ``hold``/``fault`` plugin's readings), and its ward published across a broker outage."""
    from tests.integration.faults import fault_messages
    from tests.integration.stream_faults import tachycardia
    from tests.integration.test_faults_input_and_delivery import burst_feed, skew_feed

    now = int(time.time() * 1000)
    skew = skew_feed(now)
    stream = [*tachycardia("P-0301", now - 80_000), *fault_messages()]
    outage = SyntheticWard(patients=3, duration_s=200, start_ms=now, bp_interval_s=60)
    return {
        "fault tests: skewed clocks": [*skew.first, *skew.rest],
        "fault tests: burst": burst_feed(now),
        "fault tests: stream faults": stream,
        "fault tests: broker outage ward": list(outage.messages()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stays", type=int, default=300, help="PhysioNet stays to replay")
    args = parser.parse_args()
    skew_ms = RuleSettings().max_clock_skew
    print(
        "| source | readings | out of order | of them within 2 s | median behind | "
        "most behind | same time as newest |"
    )
    print("|---|---|---|---|---|---|---|")
    print(count(synthetic(), skew_ms).row("simulator, 1,000 patients, 300 s"))
    print(count(physionet(args.stays), skew_ms).row(f"PhysioNet 2012 set-a, {args.stays} stays"))
    for source, messages in fault_tests().items():
        print(count(messages, skew_ms).row(source))


if __name__ == "__main__":
    main()
