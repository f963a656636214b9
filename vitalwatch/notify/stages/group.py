"""The grouping stage: when a group of alerts is due to be sent, as in Alertmanager.

Alerts of one route with the same ``group_by`` label values (by default the patient) form a
group and go out as one message. A new group waits ``group_wait`` so a burst becomes one
message; the wait is each alert's own (the route's ``group_wait`` for its severity), and the
group goes out when the wait of any pending alert is over, taking the others along (a ``high``
alert with no wait sends at once the ``medium`` one waiting beside it). After a flush, newly
pending alerts wait until ``group_interval`` has passed since it (and at least their
``group_wait`` from when they arrived, so a burst after a quiet spell is still one message),
except an *escalation*: a newly firing alert more severe than any the group has announced as
firing (``Timing.escalation``) goes once its own group wait is over. Unlike a
server, a patient whose urgent NEWS2 alert went out a moment ago and who now meets the
emergency band must not wait a minute for the fold;
with nothing new, a group whose alerts still fire unacknowledged is sent again after
``repeat_interval`` (0: never). Pure timing logic over the clock the caller passes in; what is
pending is decided by the stages before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Flush(str, Enum):
    NEW = "new"  # alerts not yet sent
    REPEAT = "repeat"  # nothing new; remind


@dataclass(frozen=True)
class Timing:
    wait_ms: int  # the offered alert's own group wait
    interval_ms: int
    repeat_ms: int
    # How severe the offered alert is as news: its severity's rank (low 0, medium 1, high 2)
    # when it fires, else NOT_NEWS (a resolution or a reminder never escalates).
    escalation: int = -1


NOT_NEWS = -1


@dataclass
class _Group:
    timing: Timing
    # alert id -> (when it was first offered since the last flush, its group wait in ms, its
    # escalation rank)
    pending: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    last_flush: float | None = None
    announced: int = NOT_NEWS  # the highest escalation rank the group has sent


class Grouper:
    def __init__(self) -> None:
        self._groups: dict[str, _Group] = {}

    def offer(self, key: str, alert_id: str, timing: Timing, now: float) -> None:
        """``alert_id`` has something to send in group ``key``."""
        group = self._groups.setdefault(key, _Group(timing))
        group.timing = timing
        since = group.pending[alert_id][0] if alert_id in group.pending else now
        group.pending[alert_id] = (since, timing.wait_ms, timing.escalation)

    def due(self, now: float) -> list[tuple[str, Flush, frozenset[str]]]:
        """Groups to send now: key, why, and the pending alert ids (empty for a repeat)."""
        due = []
        for key, group in self._groups.items():
            t = group.timing
            if group.pending:
                waited = [
                    (rank, now >= since + wait / 1000)
                    for since, wait, rank in group.pending.values()
                ]
                ready = any(done for _, done in waited)
                if group.last_flush is not None:
                    escalated = any(done and rank > group.announced for rank, done in waited)
                    folded = now >= group.last_flush + t.interval_ms / 1000
                    ready = ready and (folded or escalated)
                if ready:
                    due.append((key, Flush.NEW, frozenset(group.pending)))
            elif (
                group.last_flush is not None
                and t.repeat_ms > 0
                and now >= group.last_flush + t.repeat_ms / 1000
            ):
                due.append((key, Flush.REPEAT, frozenset()))
        return due

    def flushed(self, key: str, now: float) -> None:
        group = self._groups[key]
        ranks = [rank for _, _, rank in group.pending.values()]
        group.announced = max([group.announced, *ranks])
        group.pending.clear()
        group.last_flush = now

    def forget(self, key: str) -> None:
        """The group has nothing left to send or repeat."""
        self._groups.pop(key, None)

    def keys(self) -> list[str]:
        return list(self._groups)
