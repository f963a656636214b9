"""Silences persist and match by labels for a time; inhibition needs a firing source."""

from dataclasses import replace
from pathlib import Path

import pytest

from vitalwatch.contracts.alerts import Alert, AlertState
from vitalwatch.notify.config.routing import InhibitRule
from vitalwatch.notify.stages.inhibit import Inhibitor
from vitalwatch.notify.stores.silences import Silencer, SilenceStore

from .harness import alert


def test_silences_persist_match_labels_and_expire(tmp_path: Path) -> None:
    store = SilenceStore(tmp_path / "s.sqlite")
    s = store.add(["patient_id=P-0042", "severity!=high"], 200.0, "in theatre", "dr x", 100.0)
    store.close()
    store = SilenceStore(tmp_path / "s.sqlite")
    silencer = Silencer(store)
    silencer.refresh(150.0)
    assert silencer.muting(alert(severity=alert().severity.LOW), 150.0) == s
    assert silencer.muting(alert(), 150.0) is None  # high severity not covered
    assert silencer.muting(alert(patient="P-1", severity=alert().severity.LOW), 150.0) is None
    assert store.expire(s.id, 160.0) and not store.expire(s.id, 161.0)
    silencer.refresh(161.0)
    assert silencer.muting(alert(severity=alert().severity.LOW), 161.0) is None
    assert [x.id for x in store.list(161.0, include_expired=True)] == [s.id]
    assert store.list(161.0) == []


@pytest.mark.parametrize(
    ("matchers", "ends", "reason", "message"),
    [([], 200.0, "r", "at least one exact matcher"), (["x=1"], 200.0, " ", "needs a reason"),
     (["x=1"], 50.0, "r", "end in the future"), (["x"], 200.0, "r", "not a matcher"),
     (["x=~.*"], 200.0, "r", "at least one exact matcher"), (["x!=1"], 200.0, "r", "exact"),
     (["x=1"], float("inf"), "r", "finite"), (["x=1"], float("nan"), "r", "finite"),
     (["x=1"], 100.0 + 12 * 3600 + 1, "r", "at most 12h")],
)  # fmt: skip
def test_bad_silences_are_refused(tmp_path: Path, matchers, ends, reason, message) -> None:
    with pytest.raises(ValueError, match=message):
        SilenceStore(tmp_path / "s.sqlite").add(matchers, ends, reason, "me", 100.0)


RULE = InhibitRule(
    source_matchers=["rule_id=news2-emergency"], target_matchers=["rule_id=~tachy.*"]
)


def test_inhibition_needs_a_firing_source_with_equal_labels() -> None:
    inhibitor = Inhibitor([RULE])
    source, target = alert(rule="news2-emergency"), alert(rule="tachycardia-sustained")

    def inhibiting(alert_: Alert, active: list[Alert]) -> Alert | None:
        inhibitor.refresh(active)
        return inhibitor.inhibiting(alert_)

    assert inhibiting(target, [source, target]) is source
    assert inhibiting(target, [alert(patient="P-9", rule="news2-emergency")]) is None
    assert inhibiting(target, [replace(source, state=AlertState.RESOLVED)]) is None
    assert inhibiting(alert(rule="map-below-65"), [source]) is None
    assert inhibiting(source, [source]) is None  # never itself
    twin = alert(rule="news2-emergency", onset_s=5)  # a second source: one inhibits the other
    assert inhibiting(source, [source, twin]) is None  # the target rule does not match
