"""NEWS2 end to end (issue #20): a bedside monitor's observation sets (pulse, blood pressure,
SpO2, respiration, temperature) through a gateway, over HL7 v2 (MLLP) or FHIR R4 (HTTP), to
``vitalwatch run`` with the shipped rules and on to the clinician's webhook: ``news2-emergency``
and ``news2-urgent`` for a patient who scores 8, nothing for one who scores 0. The broker is
stopped while the patient deteriorates: the gateway refuses what it cannot deliver (AE, 503),
never accepts and loses it; the monitor sends it again once the broker is back, and that is what
raises the alert (``news2_rig``).

The two cases (hl7, fhir) share the module's broker (each stops it) and one daemon, each with
its own patients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.conftest import scrape
from tests.integration.gateway_rig import ack_code, post, send, serving, serving_fhir, with_token
from tests.integration.news2_rig import (
    Deliver,
    Monitor,
    ObservationSet,
    Ward,
    check_the_outcome,
    deteriorate_during_an_outage,
    running_ward,
)
from tests.unit.gateway.fhir_resources import raw, vital_signs
from tests.unit.gateway.messages import vitals
from vitalwatch.contracts.alerts import iso_ms
from vitalwatch.infra.broker import LocalBroker
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration

DELIVERY_TIMEOUT_MS = 1000  # the least allowed: a refusal while the broker is down comes fast


@pytest.fixture(scope="module")
def ward(own_broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ward]:
    with running_ward(own_broker, tmp_path_factory.mktemp("ward")) as running:
        yield running


def gateway_of(ward: Ward, root: Path) -> Settings:
    """The ward's topics, a gateway port of its own, a short delivery timeout."""
    settings = ward.settings.model_copy(deep=True)
    settings.gateway.port = free_port()
    settings.gateway.delivery_timeout = DELIVERY_TIMEOUT_MS
    return with_token(settings, root)


def hl7_time(ts_ms: int) -> str:
    """An HL7 DTM to the millisecond, UTC."""
    moment = datetime.fromtimestamp(ts_ms // 1000, tz=timezone.utc)
    return f"{moment:%Y%m%d%H%M%S}.{ts_ms % 1000:03d}"


@contextlib.contextmanager
def over_mllp(settings: Settings) -> Iterator[Deliver]:
    """The HL7 gateway, each set an ORU^R01 over MLLP (hl7's client), taken if AA."""
    with serving(settings) as served:

        def deliver(observations: ObservationSet) -> tuple[str, bool]:
            message = vitals(
                observations.patient, hl7_time(observations.ts_ms), observations.values,
                control_id=f"N{observations.number}",
            )  # fmt: skip
            (answer,) = send(served.port, [message])
            return ack_code(answer), ack_code(answer) == "AA"

        yield deliver


@contextlib.contextmanager
def over_http(settings: Settings) -> Iterator[Deliver]:
    """The FHIR endpoint, each set a Bundle of Observations (urllib), taken if 201."""
    with serving_fhir(settings) as base:

        def deliver(observations: ObservationSet) -> tuple[str, bool]:
            when = iso_ms(observations.ts_ms)
            bundle = vital_signs(observations.patient, when, observations.values)
            status, body = post(f"{base}/fhir", raw(bundle))
            assert body["resourceType"] == "OperationOutcome", body
            return str(status), status == 201

        yield deliver


# Per gateway: how it is reached, its answers (taken, and not written: send it again), and the
# patients (one scoring NEWS2 8 from the outage on, one at 0 throughout).
GATEWAYS = {
    "hl7": (over_mllp, "AA", "AE", "P-H001", "P-H002"),
    "fhir": (over_http, "201", "503", "P-F001", "P-F002"),
}


@pytest.mark.parametrize("protocol", list(GATEWAYS))
def test_news2_emergency_reaches_the_clinician_through_a_broker_outage(
    ward: Ward, tmp_path: Path, protocol: str
) -> None:
    gateway, taken, again, sick, control = GATEWAYS[protocol]
    before = scrape(ward.settings)
    with gateway(gateway_of(ward, tmp_path)) as deliver:
        monitor = Monitor(deliver)
        deteriorate_during_an_outage(ward, monitor, sick, control)
    answers = [a.answer for s in monitor.sets for a in s.attempts]
    assert {a.answer for s in monitor.sets for a in s.attempts if a.outage} == {again}, answers
    assert set(answers) == {taken, again}, answers
    check_the_outcome(ward, monitor, sick, control, before)
