"""Lanes per target: a webhook or email target is sent up to ``notify.lanes_per_target``
messages at once, one group's messages in one lane (in order); other targets, and throttled
ones (apprise throttles email by default), one at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vitalwatch.contracts.alerts import Severity
from vitalwatch.notify.config.receivers import AppriseReceiver
from vitalwatch.notify.config.routing import DEFAULT_ROUTING
from vitalwatch.notify.stages.deliver import lane
from vitalwatch.testing import RecordingReceiver

from .harness import Harness, alert

MAILTO = "mailto://127.0.0.1:9?from=vitalwatch@example.org&to=ward@example.org"
ROUTING = DEFAULT_ROUTING.replace("use_notify_urls: true", 'urls: ["nurse://"]')


class RecordingLanes:
    """Runs each job at once, noting the lane it was given and the message it sent."""

    def __init__(self, target: RecordingReceiver) -> None:
        self.target = target
        self.lane_of_message: list[tuple[str, str]] = []  # (lane, body)

    def submit(self, lane: str, work: Callable[[], None]) -> None:
        work()
        self.lane_of_message.append((lane, self.target.sent[-1][1]))


def test_a_group_keeps_its_lane_and_groups_spread_over_the_lanes(tmp_path: Path) -> None:
    h = Harness(tmp_path / "n.sqlite", ROUTING, lanes_per_target=4, concurrent_targets=True)
    lanes = RecordingLanes(h.target("nurse://"))
    h.executor = lanes
    h.open()
    for n in range(40):
        h.publish(alert(patient=f"P-{n:04d}", severity=Severity.HIGH), at=0)
    h.tick(0)
    h.publish(alert(patient="P-0007", rule="map-below-65", onset_s=1), at=20)
    h.run(1, 60)

    first = {body.split("Patient ")[1][:6]: name for name, body in lanes.lane_of_message[:40]}
    assert len(first) == 40
    assert set(first.values()) == {f"nurse://#{n}" for n in range(4)}
    (follow_up_lane, follow_up) = lanes.lane_of_message[40]
    assert "map-below-65" in follow_up and "P-0007" in follow_up
    assert follow_up_lane == first["P-0007"]


def test_a_target_that_may_not_be_sent_at_once_has_one_lane() -> None:
    one_at_a_time = RecordingReceiver(key="pager")
    assert {lane(one_at_a_time, f"group-{n}", 4) for n in range(20)} == {"pager"}
    concurrent = RecordingReceiver(key="hook", concurrent_sends=True)
    assert {lane(concurrent, f"group-{n}", 1) for n in range(20)} == {"hook"}
    assert len({lane(concurrent, f"group-{n}", 4) for n in range(20)}) == 4


@pytest.mark.parametrize(
    ("url", "concurrent"),
    [
        ("json://127.0.0.1:9/hook", True),
        # apprise throttles its email plugin by default (5.5 s between two sends)
        (MAILTO, False),
        ("console://", False),
        ("ntfy://127.0.0.1:9/ward", False),
    ],
)
def test_only_plain_webhooks_and_email_may_be_sent_at_once(url: str, concurrent: bool) -> None:
    assert AppriseReceiver(url).concurrent_sends is concurrent


def test_a_throttled_webhook_is_sent_one_at_a_time_and_unthrottled_email_at_once() -> None:
    assert AppriseReceiver("json://127.0.0.1:9/hook", throttle_s=0.5).concurrent_sends is False
    assert AppriseReceiver(MAILTO, throttle_s=0).concurrent_sends is True
