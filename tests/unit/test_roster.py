import pytest

from vitalwatch.errors import ConfigError
from vitalwatch.roster import override_columns
from vitalwatch.rules.kind import PatientContext

from .rules.helpers import hr, tachycardia


def test_override_columns_are_checked_against_rules() -> None:
    rules = [tachycardia()]
    assert override_columns(["patient_id", "bed", "ward", "tachy.above"], rules) == ["tachy.above"]
    with pytest.raises(ConfigError, match="no rule 'brady'"):
        override_columns(["patient_id", "bed", "ward", "brady.below"], rules)
    with pytest.raises(ConfigError, match=r"'for' cannot be overridden .*allowed: above, below"):
        override_columns(["patient_id", "bed", "ward", "tachy.for"], rules)
    with pytest.raises(ConfigError, match="missing column"):
        override_columns(["patient_id", "bed"], rules)


def test_a_patient_override_moves_the_limit_for_that_patient_only() -> None:
    rule = tachycardia()
    athlete = PatientContext("P-1", bed="3", ward="CCU", overrides={"tachy.above": 150})
    other = PatientContext("P-2")
    fired: dict[str, list] = {"P-1": [], "P-2": []}
    for patient in (athlete, other):
        state: dict = {}
        for t in range(0, 90):
            state, alerts = rule.step(state, hr(t, 140), patient)
            fired[patient.patient_id] += alerts
    assert fired["P-1"] == []
    (alert,) = fired["P-2"]
    assert alert.labels["bed"] == "unknown"
