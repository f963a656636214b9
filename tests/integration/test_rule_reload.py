"""Edit the rule files under a running daemon: a new rule starts firing, an unchanged rule keeps
its state across the reload, and an invalid edit leaves the running rules in place."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from tests.integration.conftest import metric_sum, scrape
from tests.integration.scenario import wait_until_idle, warm_up
from vitalwatch.rules.loader import load_rules
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


def test_rules_edited_under_a_running_daemon(settings, start_daemon, webhook, tmp_path) -> None:
    rules_dir = tmp_path / "edited-rules"
    rules_dir.mkdir()
    shutil.copy(settings.rules.directory / "heart-rate.yaml", rules_dir)  # without no-data
    settings.rules.directory = rules_dir
    daemon = start_daemon([webhook.url])
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
    assert daemon.stop() == 0
