"""Stop the daemon mid-stream and start it again: no alert lost, none notified twice."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.integration.scenario import (
    publish_in_background,
    tachycardia_rule_only,
    two_episodes_to_the_end,
    wait_until_idle,
    warm_up,
)

pytestmark = pytest.mark.integration


def test_restart_mid_stream_loses_no_alert_and_duplicates_none(
    settings, start_daemon, webhook, tmp_path
) -> None:
    settings.rules.directory = tachycardia_rule_only(tmp_path / "rules")  # no no-data alerts
    first = start_daemon([webhook.url])
    first.wait_for_event("daemon.ready", timeout=180)
    warm_up(settings)
    publisher, _ = publish_in_background(two_episodes_to_the_end(), settings)

    webhook.wait_for(1, timeout=90)
    # Ctrl-C (SIGINT) while P-0002's episode is still being published: drains as SIGTERM does.
    assert first.stop(signum=signal.SIGINT) == 0
    assert first.wait_for_event("daemon.stopped", timeout=1)["exit_code"] == 0
    stopped_at = time.time()
    second = start_daemon([webhook.url])
    second.wait_for_event("daemon.ready", timeout=180)
    print(f"daemon down for {time.time() - stopped_at:.1f} s")

    publisher.join(60)
    webhook.wait_for(2, timeout=120)
    wait_until_idle(settings)
    time.sleep(3)  # a duplicate, if any, would have been delivered by now
    notifications = list(webhook.received)
    patients = sorted(re.search(r"Patient (P-\d+)", n["message"]).group(1) for n in notifications)
    assert patients == ["P-0001", "P-0002"]
    alert_ids = {re.search(r"Alert id (\S+)", n["message"]).group(1) for n in notifications}
    assert len(alert_ids) == 2
    assert second.stop() == 0
