"""The escalation stage: when an unacknowledged alert goes to its receiver's next tier.

A tier with ``escalate_after`` gives the people in it that long, from its first message, to
acknowledge; then the alert goes to the next tier (bedside nurse → charge nurse → rapid-response
team) with state ``escalated``. A tier whose every target failed escalates at once. Pure: the
caller passes what the notification log says and the acknowledgement state.
"""

from __future__ import annotations

from vitalwatch.notify.config.receivers import NamedReceiver, Tier
from vitalwatch.notify.stores.notification_log import TierReached


def next_tier(
    receiver: NamedReceiver, reached: TierReached | None, acknowledged: bool, now: float
) -> Tier | None:
    """The tier to escalate to now, or None."""
    if acknowledged or reached is None or reached.tier >= len(receiver.tiers):
        return None
    current = receiver.tiers[reached.tier - 1]
    if not reached.any_sent:
        return receiver.tiers[reached.tier]
    if current.escalate_after_ms is None:
        return None
    if now < reached.first_at + current.escalate_after_ms / 1000:
        return None
    return receiver.tiers[reached.tier]
