"""The acknowledge/silence API inside ``vitalwatch run``: it starts with the daemon, records a
silence under the credential that made it, refuses an endless one, and stops with SIGTERM
(exit 0, port closed, no thread left behind to hold the process)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.conftest import Daemon, settings_env
from tests.unit.notify.api_harness import call
from vitalwatch.notify.operations import state_file
from vitalwatch.notify.stores.audit import AuditLog
from vitalwatch.settings import Settings

pytestmark = pytest.mark.integration

TOKENS = "charge-nurse-5b:t0ken-of-the-charge-nurse\npager-gateway:t0ken-of-the-pager-gateway\n"


def test_the_api_runs_and_stops_with_the_daemon(settings: Settings, tmp_path: Path) -> None:
    tokens = tmp_path / "api-tokens"
    tokens.write_text(TOKENS)
    port = free_port()
    env = settings_env(settings, [])
    env.update(
        VITALWATCH_API__TOKENS_FILE=str(tokens),
        VITALWATCH_API__PORT=str(port),
        VITALWATCH_API__PUBLIC_URL=f"http://127.0.0.1:{port}",
        VITALWATCH_API__LINK_CREDENTIAL="pager-gateway",
    )
    daemon = Daemon(env, tmp_path / "daemon.log")
    try:
        daemon.wait_for_event("daemon.ready", timeout=180)
        assert daemon.wait_for_event("api.credentials", timeout=5)["names"] == [
            "charge-nurse-5b", "pager-gateway",
        ]  # fmt: skip
        url, token = f"http://127.0.0.1:{port}/api/v1/silences", "t0ken-of-the-charge-nurse"
        endless = {"matchers": ["ward=5B"], "reason": "x", "ends_at": float("inf")}
        assert call(url, endless, token=token)[0] == 400  # sent as Infinity
        status, silence = call(url, {**endless, "ends_at": time.time() + 3600}, token=token)
        assert status == 201 and silence["created_by"] == "charge-nurse-5b"
        sent = time.monotonic()
        assert daemon.stop(timeout=90) == 0
        assert time.monotonic() - sent < 60
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(30)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass
    audit = AuditLog(state_file(settings))
    (added,) = audit.query(event="silence.added")
    audit.close()
    assert added.detail["silence"]["created_by"] == "charge-nurse-5b"
