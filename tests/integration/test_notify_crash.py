"""kill -9 of the notifier while notifications are in flight, then a restart: every receiver
has every alert, none twice unmarked. And the figures: notifications per second, added latency."""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter

import pytest

from tests.integration.notify_rig import hooks, mailbox, notifier, publish_alerts
from tests.unit.notify.harness import alert

pytestmark = pytest.mark.integration
__all__ = ["hooks", "mailbox", "notifier"]  # fixtures

REPEAT_MARK = "Possibly a repeat: vitalwatch restarted while sending this"


def deliveries(texts: list[str]) -> tuple[Counter[str], int]:
    """Alert ids delivered (a message marked as a possible repeat does not count again)."""
    seen: Counter[str] = Counter()
    marked = 0
    for text in texts:
        ids = re.findall(r"Alert id (\S+)", text)
        if REPEAT_MARK in text:
            marked += 1
            ids = [i for i in ids if i not in seen]
        seen.update(ids)
    return seen, marked


def test_sigkill_mid_delivery_then_restart_every_receiver_gets_every_alert_once(
    settings, notifier, hooks, mailbox
) -> None:
    routing = f"""
route: {{receiver: ward, group_wait: 0s}}
receivers:
  - name: ward
    tiers:
      - urls: ["{hooks.url("ward")}", "{mailbox.url("nurse@example.org")}"]
        throttle: 0s  # apprise waits 5.5 s between two emails by default
"""
    alerts = [alert(patient=f"P-{i:04d}") for i in range(40)]
    publish_alerts(settings, alerts)
    first = notifier(routing)
    hooks.wait_for("ward", 10, timeout=60)
    first.kill()  # SIGKILL with messages in flight (an SMTP send takes ~0.1 s)
    killed_after = (len(hooks.messages("ward")), len(mailbox.messages))
    print(f"killed after {killed_after[0]} webhook and {killed_after[1]} SMTP deliveries")
    assert killed_after[1] < len(alerts)  # it really was mid-delivery

    second = notifier(routing)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (
        len(deliveries([m["message"] for m in hooks.messages("ward")])[0]) < len(alerts)
        or len(deliveries([b for _, b in mailbox.texts()])[0]) < len(alerts)
    ):
        time.sleep(0.2)
    time.sleep(2)  # a duplicate, if any, would have arrived by now
    expected = {a.alert_id: 1 for a in alerts}
    for name, texts in (
        ("webhook", [m["message"] for m in hooks.messages("ward")]),
        ("smtp", [b for _, b in mailbox.texts()]),
    ):
        seen, marked = deliveries(texts)
        print(f"{name}: {len(texts)} messages, {marked} marked as a possible repeat")
        assert dict(seen) == expected, name
        assert marked <= 1  # only the message in flight at the kill can be resent
    assert second.stop() == 0


def test_sigkill_of_the_whole_daemon_mid_delivery_then_restart(
    settings, start_daemon, hooks
) -> None:
    """The same through ``vitalwatch run`` (query, notifier, HTTP in one process), with the
    embedded default routing; alerts are published to the alerts topic directly."""
    hooks.delay = 0.1  # 30 deliveries take 3 s: the kill lands while they are in flight
    alerts = [alert(patient=f"P-{i:04d}") for i in range(30)]
    first = start_daemon([hooks.url("ward")])
    first.wait_for_event("notify.started", timeout=180)
    publish_alerts(settings, alerts)
    hooks.wait_for("ward", 8, timeout=60)
    first.process.kill()
    first.process.wait(30)
    assert len(hooks.messages("ward")) < len(alerts)
    second = start_daemon([hooks.url("ward")])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(
        deliveries([m["message"] for m in hooks.messages("ward")])[0]
    ) < len(alerts):
        time.sleep(0.5)
    time.sleep(3)  # a duplicate, if any, would have arrived by now
    seen, marked = deliveries([m["message"] for m in hooks.messages("ward")])
    print(f"daemon: {len(hooks.messages('ward'))} messages, {marked} marked as a possible repeat")
    assert dict(seen) == {a.alert_id: 1 for a in alerts} and marked <= 1
    assert second.stop() == 0


def test_notifier_throughput_and_added_latency(settings, notifier, hooks) -> None:
    routing = f"""
route: {{receiver: ward, group_wait: 0s}}
receivers:
  - name: ward
    tiers: [{{urls: ["{hooks.url("ward")}"]}}]
"""
    process = notifier(routing)
    publish_alerts(settings, [alert(patient="P-warm")])
    hooks.wait_for("ward", 1, timeout=30)  # consumer assigned, caches warm

    paced: dict[str, float] = {}
    for i in range(40):  # 10 per second: latency without queueing
        paced.update(publish_alerts(settings, [alert(patient=f"P-L{i:03d}")]))
        time.sleep(0.1)
    received = hooks.wait_for("ward", 41, timeout=60)
    by_id = {re.findall(r"Alert id (\S+)", m["message"])[0]: m["at"] for m in received}
    latencies = sorted(by_id[i] - t for i, t in paced.items())
    median = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]

    burst = [alert(patient=f"P-B{i:03d}") for i in range(300)]
    started = time.time()
    publish_alerts(settings, burst)
    received = hooks.wait_for("ward", 341, timeout=120)
    assert len(received) == 341
    rate = len(burst) / (received[-1]["at"] - started)
    print(
        f"added latency (publish -> webhook) median {median * 1000:.0f} ms, p99 "
        f"{p99 * 1000:.0f} ms; burst of {len(burst)}: {rate:.0f} notifications/s"
    )
    assert median < 1.0 and rate > 5
    assert process.stop() == 0
