"""``vitalwatch notify test ROUTE`` sends through real apprise services and reports each one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.notify_rig import serve_hooks
from vitalwatch.cli import main
from vitalwatch.notify.stores.audit import AuditLog

pytestmark = pytest.mark.integration


def test_notify_test_reports_each_service(tmp_path: Path, monkeypatch, capsys) -> None:
    with socket.socket() as refused, serve_hooks() as hooks:
        refused.bind(("127.0.0.1", 0))  # bound, not listening
        port = refused.getsockname()[1]
        routing = tmp_path / "routing.yaml"
        routing.write_text(f"""
route: {{receiver: ward, routes: [{{name: icu, matchers: [ward=ICU-A], receiver: icu}}]}}
receivers:
  - name: ward
    tiers: [{{urls: ["{hooks.url("ward")}"]}}]
  - name: icu
    tiers:
      - urls: ["{hooks.url("icu")}"]
      - urls: ["json://user:s3cret@127.0.0.1:{port}/charge"]
""")
        monkeypatch.setenv("VITALWATCH_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("VITALWATCH_NOTIFY__ROUTING_FILE", str(routing))
        monkeypatch.setenv("VITALWATCH_LOG_FORMAT", "json")
        assert main(["notify", "test", "icu"]) == 1
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith(f"ok     tier 1 json://127.0.0.1:{hooks.port}/icu")
        assert out[1].startswith("FAILED tier 2 json://user:****@127.0.0.1")
        assert out[2] == "route icu -> receiver icu: 1 failed"
        assert "s3cret" not in "\n".join(out)
        (message,) = hooks.messages("icu")
        assert message["title"] == "[TEST] vitalwatch: test notification for route icu"
        assert hooks.messages("ward") == []
        (entry,) = AuditLog(tmp_path / "notifications.sqlite").query(event="notification.test")
        assert entry.receiver == "icu" and list(entry.detail["results"].values()) == [
            "ok", "failed",
        ]  # fmt: skip
        assert main(["notify", "test", "nowhere"]) == 2
        assert "no route named 'nowhere' (routes: root, icu)" in capsys.readouterr().err
