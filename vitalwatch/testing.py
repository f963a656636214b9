"""In-memory doubles of vitalwatch's boundaries, for testing your own rules and set-ups.

``RecordingReceiver`` stands in for an apprise receiver: it records what it is sent and can be
told to fail, so delivery, retry and dedup behaviour can be checked without a network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RecordingReceiver"]


@dataclass
class RecordingReceiver:
    key: str = "recording"
    name: str = "recording://"
    service: str = "recording"
    failures: int = 0  # how many sends fail before sends succeed (-1: always fail)
    sent: list[tuple[str, str]] = field(default_factory=list)
    attempts: int = 0

    def send(self, title: str, body: str) -> bool:
        self.attempts += 1
        if self.failures == -1 or self.attempts <= self.failures:
            return False
        self.sent.append((title, body))
        return True
