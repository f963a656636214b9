"""Exponential backoff of one failing operation of the notifier (a commit, a dead letter)."""

from __future__ import annotations


class Backoff:
    """Exponential backoff of one failing operation: 0.5 s doubling to 30 s. The first failure
    of a streak is the one that raises the technical alarm; later ones are counted."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0) -> None:
        self._first_s, self._max_s = first_s, max_s
        self._failures = 0
        self._next_at = 0.0

    def due(self, now: float) -> bool:
        return now >= self._next_at

    def failed(self, now: float) -> bool:
        """Note a failure; True when it starts a streak."""
        self._failures += 1
        self._next_at = now + min(self._max_s, self._first_s * 2 ** (self._failures - 1))
        return self._failures == 1

    def succeeded(self) -> int:
        """Note a success; returns how many failures the streak it ends had (0: none)."""
        streak, self._failures, self._next_at = self._failures, 0, 0.0
        return streak
