"""The stream processor's stored state: a rolled-back bucket (a failed batch, a restart from the
checkpoint) is read from Spark's state, never from what this Python worker wrote last."""

from __future__ import annotations

from tests.unit.rules.helpers import tachycardia
from tests.unit.stream.test_processor_timers import (
    BUCKET,
    T0,
    alerts,
    processor_under_test,
    reading,
)


def test_a_bucket_rolled_back_in_spark_state_is_decoded_again() -> None:
    test = processor_under_test([tachycardia()])
    test.setProcessingTime(1_000)
    first = [reading("P-1", T0 + s * 1000, 150) for s in range(30)]
    assert alerts(test.test(BUCKET, first)) == []
    checkpointed = test.peekValueState("bucket", BUCKET)
    rest = [reading("P-1", T0 + s * 1000, 150) for s in range(30, 70)]
    fired = alerts(test.test(BUCKET, rest))
    assert fired == [("P-1", "tachy", "firing")]
    # The batch that fired is rolled back (say its Kafka write failed): Spark's state is the
    # checkpointed one again and the batch is replayed, so the alert must fire again.
    assert checkpointed is not None
    test.updateValueState("bucket", BUCKET, checkpointed)
    assert alerts(test.test(BUCKET, rest)) == fired


def test_a_bucket_this_worker_wrote_last_carries_on() -> None:
    test = processor_under_test([tachycardia()])
    test.setProcessingTime(1_000)
    out = []
    for start in range(0, 80, 10):
        batch = [reading("P-1", T0 + (start + s) * 1000, 150) for s in range(10)]
        out += alerts(test.test(BUCKET, batch))
    assert out == [("P-1", "tachy", "firing")]  # once: each batch carried on from the last
