"""When an alert goes to the next tier."""

from vitalwatch.notify.config.receivers import NamedReceiver, Tier
from vitalwatch.notify.stages.escalate import next_tier
from vitalwatch.notify.stores.notification_log import TierReached
from vitalwatch.testing import RecordingReceiver

RECEIVER = NamedReceiver(
    "ward",
    (
        Tier(1, (RecordingReceiver(),), 120_000),
        Tier(2, (RecordingReceiver(),), None),
        Tier(3, (RecordingReceiver(),), None),
    ),
    None,
    False,
)


def test_escalates_after_the_tier_time_unless_acknowledged() -> None:
    reached = TierReached(1, first_at=100.0, any_sent=True)
    assert next_tier(RECEIVER, reached, acknowledged=False, now=219.9) is None
    tier = next_tier(RECEIVER, reached, acknowledged=False, now=220.0)
    assert tier is not None and tier.number == 2
    assert next_tier(RECEIVER, reached, acknowledged=True, now=1000.0) is None


def test_a_tier_without_escalate_after_or_the_last_tier_stays() -> None:
    assert next_tier(RECEIVER, TierReached(2, 0.0, True), False, 10**9) is None
    assert next_tier(RECEIVER, TierReached(3, 0.0, False), False, 10**9) is None
    assert next_tier(RECEIVER, None, False, 10**9) is None


def test_an_unreachable_tier_escalates_at_once() -> None:
    tier = next_tier(RECEIVER, TierReached(2, 100.0, any_sent=False), False, 100.0)
    assert tier is not None and tier.number == 3
