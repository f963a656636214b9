"""The redelivery stage: a receiver that was down gets, once it is back, what it missed that
still matters.

A message whose retries are spent goes to the fallback receiver as a technical alert and is
recorded as failed (``fallback``). A receiver down for ten minutes misses every message of that
time. What it gets when it is back, without anybody doing anything: the current message of each
alert that is still active (firing, or resolved but latching and unacknowledged) and that it
never got, marked as delayed. A clinician there still needs to hear of an alarm that is still
on, even late; the fallback receiver (IT on call, say) is not the team at the bedside. An alert
that resolved meanwhile is not sent late (the fallback had it, and a stale alarm for a condition
that has ended is noise), nor is a message that a later one replaced (a ``firing`` after which
a re-notification got through). Only tier-1 deliveries come back this way: a tier whose every
target failed has already escalated to the next.

How a receiver is found to be back: every target with missed deliveries gets the oldest of them
tried once every ``Sender.retry_interval_s`` (the retry schedule's next step: 16 s under the
defaults). Any message that reaches a target (a try, or a new alert) marks it reachable, and
everything else it missed follows at the next tick. A failed try is counted (``retried``) and
logged, never handed to the fallback again: it had the message.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from vitalwatch.notify.stores.notification_log import Missed


class Redelivery:
    """When to look for missed deliveries, and which to try: thread-safe (lanes report)."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._next_look = 0.0
        self._reachable: set[str] = set()  # target keys that accepted a message last
        self._lock = threading.Lock()

    def due(self, now: float) -> bool:
        """Whether to look now; if so, the next look is an interval away."""
        with self._lock:
            if now < self._next_look:
                return False
            self._next_look = now + self._interval_s
            return True

    def pick(self, missed: Sequence[Missed]) -> list[Missed]:
        """All of a reachable target's missed deliveries; the oldest one of any other target."""
        picked, tried = [], set()
        with self._lock:
            for m in sorted(missed, key=lambda m: m.failed_at):
                if m.target in self._reachable or m.target not in tried:
                    picked.append(m)
                    tried.add(m.target)
        return picked

    def reached(self, target: str, delivered: bool) -> None:
        """A message to ``target`` was delivered, or failed for good (from a lane's thread)."""
        with self._lock:
            if not delivered:
                self._reachable.discard(target)
            elif target not in self._reachable:
                self._reachable.add(target)
                self._next_look = 0.0  # what it missed follows at the next tick
