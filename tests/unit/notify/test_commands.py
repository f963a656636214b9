"""The notification CLI: notify check, silence add/list/expire, ack, audit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vitalwatch.cli import main
from vitalwatch.notify.stores.alerts import AlertStore, Source

from .harness import alert
from .test_routing import TREE


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VITALWATCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("VITALWATCH_LOG_FORMAT", "json")
    return tmp_path


def test_notify_check_lists_routes_and_masks_secrets(state: Path, capsys) -> None:
    routing = state / "routing.yaml"
    tree = TREE.replace("json://localhost/ward", "json://user:s3cret@localhost/w")
    icu = '{urls: ["json://localhost/icu"]'
    routing.write_text(tree.replace(icu + "}", icu + ", escalate_after: 2m}"))
    assert main(["notify", "check", str(routing)]) == 0
    out = capsys.readouterr().out
    assert "route    icu-high" in out and "severity=high -> rapid" in out
    assert "escalates after 2m" in out
    assert main(["notify", "check", str(routing), "--labels", "ward=5B", "team=cardiology"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "an alert with ward=5B team=cardiology -> route cardiology-copy -> receiver cardiology",
        "an alert with ward=5B team=cardiology -> route cardiology-ward -> receiver ward",
    ]
    assert "s3cret" not in out and "routing valid" in out


def test_notify_check_rejects_a_bad_file_naming_the_place(state: Path, capsys) -> None:
    routing = state / "routing.yaml"
    routing.write_text(TREE.replace("receiver: rapid", "receiver: nobody"))
    assert main(["notify", "check", str(routing)]) == 2
    assert f"{routing}: route 'icu-high': field 'receiver'" in capsys.readouterr().err


def test_silence_add_list_expire(state: Path, capsys) -> None:
    assert main(["silence", "add", "patient_id=P-0042", "--for", "2h", "-r", "theatre"]) == 0
    silence_id = capsys.readouterr().out.split()[0]
    assert main(["silence", "list"]) == 0
    assert "patient_id=P-0042" in capsys.readouterr().out
    assert main(["silence", "expire", silence_id]) == 0
    capsys.readouterr()
    assert main(["silence", "list"]) == 0 and capsys.readouterr().out == ""
    assert main(["silence", "expire", silence_id]) == 2
    assert main(["silence", "add", "nonsense", "--for", "1h", "-r", "x"]) == 2
    assert "not a matcher" in capsys.readouterr().err


def test_ack_and_audit(state: Path, capsys) -> None:
    a = alert()
    store = AlertStore(state / "notifications.sqlite")
    store.ingest(a, Source("alerts", 0, 1), 1_795_615_200.0)
    store.close()
    assert main(["ack", "00000000-0000-0000-0000-000000000000"]) == 2
    assert main(["ack", a.alert_id, "--by", "nurse j"]) == 0
    assert main(["ack", a.alert_id]) == 0
    out = capsys.readouterr().out
    assert "acknowledged" in out and "already acknowledged by nurse j via cli" in out
    assert main(["audit", "--patient", "P-0042"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "alert.acknowledged" in lines[0] and "by=nurse j" in lines[0]
    assert main(["audit", "--since", "1h", "--json"]) == 0
    assert '"event": "alert.acknowledged"' in capsys.readouterr().out
    assert main(["audit", "--since", "yesterday"]) == 2


def test_silence_add_is_bounded_by_api_max_silence(
    state: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: any length was accepted, e.g. --for 3650d."""
    assert main(["silence", "add", "patient_id=P-0042", "--for", "13h", "-r", "theatre"]) == 2
    assert "at most 12h (api.max_silence); this one would last 13h" in capsys.readouterr().err
    assert main(["silence", "add", "patient_id=~.*", "--for", "1h", "-r", "x"]) == 2
    assert "exact matcher" in capsys.readouterr().err
    monkeypatch.setenv("VITALWATCH_API__MAX_SILENCE", "2d")
    assert main(["silence", "add", "patient_id=P-0042", "--for", "36h", "-r", "theatre"]) == 0


def test_a_stored_endless_silence_is_listed_and_mutes_nothing(state: Path, capsys) -> None:
    """Before: `silence list` crashed with OverflowError, and the silence muted every alert."""
    from vitalwatch.notify.stores.silences import SilenceStore

    store = SilenceStore(state / "notifications.sqlite")
    store._db.execute(
        "INSERT INTO silences VALUES ('0badc0ffee00', '[\"patient_id=~.*\"]', 1.0, ?, 'x', 'eve')",
        (float("inf"),),
    )
    assert not any(s.silences(alert(), time.time()) for s in store.list(time.time()))
    store.close()
    assert main(["silence", "list"]) == 0
    assert "0badc0ffee00  expired  until never (invalid: mutes nothing)" in capsys.readouterr().out
    assert main(["silence", "expire", "0badc0ffee00"]) == 0
