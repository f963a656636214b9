"""Fuzz of the FHIR endpoint's mapping (``gateway.fhir``), pure: generated Observations and
Bundles of them, damaged (``fhir_resources``). For each: either readings that pass every check
the stream applies (patient id pattern, event-time range and not ahead of the clock, what a body
can show, a blood pressure with both pressures, diastolic not above systolic), or a refusal with
a known reason, an HTTP status of 400 or 422 and a place in the body; never another exception."""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings

from tests.fuzz.config_mutations import HYPOTHESIS
from tests.fuzz.fhir_resources import bodies
from tests.fuzz.gateway_readings import check_reading
from tests.unit.gateway.fhir_resources import TIME_MS
from vitalwatch.gateway.fhir import Kind, Refused, readings
from vitalwatch.gateway.fhir_api import _ISSUE_CODES

pytestmark = pytest.mark.fuzz

NOW_MS = TIME_MS + 1_000
SKEW_MS = 30_000


@settings(HYPOTHESIS, max_examples=600)
@given(body=bodies())
def test_every_body_is_mapped_to_valid_readings_or_refused_with_a_reason(
    body: tuple[Kind, bytes],
) -> None:
    kind, raw = body
    try:
        mapped = readings(raw, kind, NOW_MS, SKEW_MS)
    except Refused as refused:
        event(f"refused {refused.kind}")
        assert refused.kind in _ISSUE_CODES
        assert refused.status in {400, 422}
        assert refused.reason.isprintable() and "\n" not in refused.reason
        assert refused.where == "" or refused.where.startswith(kind)
        return
    event("accepted")
    assert mapped.readings
    for reading in mapped.readings:
        check_reading(reading, NOW_MS, SKEW_MS)
        event(f"wrote {reading.signal.value} {'+'.join(sorted(reading.values))}")
