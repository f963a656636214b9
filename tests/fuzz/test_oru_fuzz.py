"""Fuzz of the HL7 gateway's mapping (``gateway.oru``) and answers (``gateway.ack``), pure:
2,000 generated blocks (``hl7_messages``). For each: either readings that pass every check the
stream applies (patient id pattern, event-time range, what a body can show, a blood pressure
with both pressures, diastolic not above systolic) and no time ahead of the clock, or a refusal
with a reason; never another exception. And its ACK is an HL7 message answering AA, AR or AE
with the reason, whatever the block held."""

from __future__ import annotations

from datetime import datetime, timezone

import hl7
import pytest
from hypothesis import event, given, settings

from tests.fuzz.config_mutations import HYPOTHESIS
from tests.fuzz.gateway_readings import check_reading
from tests.fuzz.hl7_messages import blocks
from vitalwatch.gateway.ack import ERROR_CODES, AckCode, ack
from vitalwatch.gateway.oru import Malformed, NotOruR01, Refusal, parse, readings

pytestmark = pytest.mark.fuzz

NOW_MS = int(datetime(2026, 11, 25, 14, 0, 30, tzinfo=timezone.utc).timestamp() * 1000)
SKEW_MS = 30_000


def answer_of(block: bytes) -> tuple[bytes, str]:
    """What the gateway answers before anything is written: the ACK and its code."""
    message = None
    try:
        message = parse(block)
        mapped = readings(message, NOW_MS, SKEW_MS)
    except NotOruR01:
        return ack(message, AckCode.REJECT, "not_oru_r01", 200), "AR"
    except Malformed as exc:
        assert exc.reason.split(":")[0] in {r.value for r in Refusal}
        return ack(message, AckCode.REJECT, exc.reason, ERROR_CODES[exc.refusal]), "AR"
    for reading in mapped.readings:
        check_reading(reading, NOW_MS, SKEW_MS)
        event(f"wrote {reading.signal.value} {'+'.join(sorted(reading.values))}")
    return ack(message, AckCode.ACCEPT), "AA"


@settings(HYPOTHESIS, max_examples=2000)
@given(block=blocks())
def test_every_block_is_mapped_or_refused_and_answered(block: bytes) -> None:
    answer, code = answer_of(block)
    event(code)
    parsed = hl7.parse(answer.decode("latin-1"))
    msa = parsed.segment("MSA")
    assert str(msa[1]) == code
    assert str(parsed.segment("MSH")[9]).startswith("ACK")
