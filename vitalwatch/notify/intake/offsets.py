"""The alerts-topic offsets the notifier may commit."""

from __future__ import annotations

import threading
from collections import Counter

from confluent_kafka import TopicPartition

Part = tuple[str, int]  # topic, partition


class Offsets:
    """The alert-topic offsets the notifier may commit, per partition: up to the last message
    stored, never past one whose dead letter (its only copy) the broker has not confirmed, and
    back to a message that must be read again (not stored, or its dead letter failed) until the
    consumer has been rewound to it. Thread-safe: delivery reports come on any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[Part, int] = {}
        self._held: dict[Part, Counter[int]] = {}
        self._rewind: dict[Part, int] = {}
        self._committed: dict[Part, int] = {}

    def taken(self, part: Part, offset: int) -> None:
        with self._lock:
            if part not in self._rewind:
                self._next[part] = offset + 1

    def hold(self, part: Part, offset: int) -> None:
        with self._lock:
            self._held.setdefault(part, Counter())[offset] += 1

    def confirmed(self, part: Part, offset: int, ok: bool) -> None:
        with self._lock:
            held = self._held.get(part)
            if held is not None:
                held[offset] -= 1
                if held[offset] <= 0:
                    del held[offset]
        if not ok:
            self.rewind(part, offset)

    def rewind(self, part: Part, offset: int) -> None:
        """Read again from ``offset`` (nothing from it on is committed until then)."""
        with self._lock:
            self._rewind[part] = min(self._rewind.get(part, offset), offset)
            self._next[part] = min(self._next.get(part, offset), offset)

    def rewinds(self) -> dict[Part, int]:
        with self._lock:
            rewinds, self._rewind = self._rewind, {}
        return rewinds

    def due(self) -> list[TopicPartition]:
        """Partitions whose committable offset has moved since their last commit."""
        with self._lock:
            due = []
            for part, next_offset in self._next.items():
                offset = min([next_offset, *self._held.get(part, ())])
                if self._committed.get(part) != offset:
                    due.append(TopicPartition(part[0], part[1], offset))
            return due

    def committed(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for p in partitions:
                self._committed[(p.topic, p.partition)] = p.offset

    def forget(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for p in partitions:
                for table in (self._next, self._held, self._rewind, self._committed):
                    table.pop((p.topic, p.partition), None)
