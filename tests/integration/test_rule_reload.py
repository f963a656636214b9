"""Edit the rule files under a running daemon: a new rule starts firing, an unchanged rule keeps
its state across the reload, and an invalid edit leaves the running rules in place. Then, in the
same daemon run, the notification routing: a new file and SIGHUP send the next alert to the new
receiver (and the alerts still firing with it), an invalid file and SIGHUP keep the running
routing."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time

import pytest

from tests.integration.conftest import Daemon, Webhook, metric_sum, scrape, serve_webhook
from tests.integration.notify_rig import publish_alerts
from tests.integration.scenario import wait_until_idle, warm_up
from tests.unit.notify.harness import alert
from vitalwatch.rules.loader import load_rules
from vitalwatch.settings import Settings
from vitalwatch.simulate.messages import publish
from vitalwatch.simulate.synthetic import Episode, SyntheticWard

pytestmark = pytest.mark.integration

HYPOTENSION_RULE = """
rules:
  - id: hypotension-test
    description: Systolic below 90 on two readings 60 s apart.
    source: test
    kind: threshold
    signal: systolic
    below: 90
    for: 60s
    max_gap: 2m
    severity: high
    summary: "SBP {value:.0f}"
"""
ROUTING = """
route: {{receiver: {name}, group_by: [patient_id], group_wait: 5s, group_interval: 1m}}
receivers:
  - name: {name}
    tiers: [{{urls: ["{url}"]}}]
"""


def test_rules_edited_under_a_running_daemon(settings, start_daemon, webhook, tmp_path) -> None:
    rules_dir = tmp_path / "edited-rules"
    rules_dir.mkdir()
    shutil.copy(settings.rules.directory / "heart-rate.yaml", rules_dir)  # without no-data
    settings.rules.directory = rules_dir
    settings.notify.routing_file = tmp_path / "routing.yaml"
    settings.notify.routing_file.write_text(ROUTING.format(name="ward", url=webhook.url))
    daemon = start_daemon([])
    daemon.wait_for_event("daemon.ready", timeout=180)
    warm_up(settings)

    start_ms = int(time.time() * 1000)
    ward = SyntheticWard(
        patients=4, duration_s=300, start_ms=start_ms, bp_interval_s=30,
        episodes=(
            Episode("tachycardia", patient=1, start_s=20, duration_s=280),
            Episode("hypotension", patient=2, start_s=10, duration_s=290),
        ),
    )  # fmt: skip
    messages = list(ward.messages())
    # The first 50 s of readings, under the shipped rules: P-0001's breach run is 30 s old.
    publish([m for m in messages if m.offset_ms < 50_000], settings, speed=0)
    wait_until_idle(settings, quiet_s=4)

    (rules_dir / "broken.yaml").write_text("rules:\n  - id: Broken Id\n    kind: threshold\n")
    daemon.wait_for_event("rules.reload_rejected", timeout=30)
    (rules_dir / "broken.yaml").unlink()
    (rules_dir / "hypotension.yaml").write_text(HYPOTENSION_RULE)
    reloaded = daemon.wait_for_event("rules.reloaded", timeout=30)
    assert reloaded["added"] == ["hypotension-test"]

    publish([m for m in messages if m.offset_ms >= 50_000], settings, speed=0)
    notifications = webhook.wait_for(2, timeout=120)
    wait_until_idle(settings)
    notifications = list(webhook.received)
    fired = {re.search(r"firing: (\S+)", n["title"]).group(1): n["message"] for n in notifications}
    assert sorted(fired) == ["hypotension-test", "tachycardia-sustained"]
    assert len(notifications) == 2
    assert "Patient P-0002" in fired["hypotension-test"]
    # The tachycardia run began before the reload: its onset is the first breach at ~20 s,
    # which only a rule that kept its state across the reload can know.
    onset = re.search(r"Onset (\S+);", fired["tachycardia-sustained"]).group(1)
    first_breach_ms = min(
        json.loads(m.value)["ts"] for m in messages
        if m.key == b"P-0001" and m.offset_ms >= 20_000 and b"bpm" in m.value
    )  # fmt: skip
    from vitalwatch.contracts.alerts import iso_ms

    assert onset == iso_ms(first_breach_ms)

    samples = scrape(settings)
    assert metric_sum(samples, "vitalwatch_rule_reloads_total", outcome="invalid") >= 1
    assert metric_sum(samples, "vitalwatch_rule_reloads_total", outcome="applied") == 1
    shipped = len(load_rules(settings.rules.directory / "heart-rate.yaml"))
    assert metric_sum(samples, "vitalwatch_rules_loaded") == shipped + 1

    with serve_webhook() as oncall:
        routing_reloaded_under_the_daemon(daemon, settings, webhook, oncall)
    assert daemon.stop() == 0


def routing_reloaded_under_the_daemon(
    daemon: Daemon, settings: Settings, ward: Webhook, oncall: Webhook
) -> None:
    assert settings.notify.routing_file is not None
    sent_to_ward = len(ward.received)
    settings.notify.routing_file.write_text(ROUTING.format(name="oncall", url=oncall.url))
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for_event("routing.reloaded", timeout=30)
    after_reload = alert(patient="P-0901", rule="routing-test")
    publish_alerts(settings, [after_reload])
    # The new alert, and the two alerts still firing (the team now covering them is told).
    received = oncall.wait_for(3, timeout=60)
    bodies = " ".join(n["message"] for n in received)
    assert after_reload.alert_id in bodies and "P-0001" in bodies and "P-0002" in bodies

    unknown_receiver = ROUTING.format(name="oncall", url=oncall.url).replace(
        "receiver: oncall", "receiver: nobody"
    )
    settings.notify.routing_file.write_text(unknown_receiver)
    daemon.process.send_signal(signal.SIGHUP)
    rejected = daemon.wait_for_event("routing.reload_rejected", timeout=30)
    assert rejected["file"] == str(settings.notify.routing_file)
    assert "route 'root': field 'receiver': unknown receiver 'nobody'" in rejected["error"]
    after_rejection = alert(patient="P-0902", rule="routing-test")
    publish_alerts(settings, [after_rejection])
    received = oncall.wait_for(4, timeout=60)
    assert after_rejection.alert_id in received[-1]["message"]
    assert len(ward.received) == sent_to_ward  # the old receiver got neither
    samples = scrape(settings)
    assert metric_sum(samples, "vitalwatch_routing_reloads_total", outcome="applied") == 1
    assert metric_sum(samples, "vitalwatch_routing_reloads_total", outcome="invalid") >= 1
