"""When to restart a failed query, and when to give up so the service manager restarts us.

Pure logic with an explicit clock (seconds), so it is unit-tested without Spark.
"""

from __future__ import annotations

from collections import deque


class RestartPolicy:
    """Exponential backoff with a cap; ``max_failures`` failures within ``window_s`` give up.

    The backoff doubles with each failure still inside the window, so a query that ran well for a
    whole window starts again from the shortest wait.
    """

    def __init__(
        self, backoff_s: float, backoff_max_s: float, max_failures: int, window_s: float
    ) -> None:
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: deque[float] = deque()

    def failure(self, now: float) -> float | None:
        """Record a failure at ``now``: seconds to wait before restarting, or None to give up."""
        while self._failures and now - self._failures[0] > self.window_s:
            self._failures.popleft()
        self._failures.append(now)
        count = len(self._failures)
        if count >= self.max_failures:
            return None
        return float(min(self.backoff_s * 2 ** (count - 1), self.backoff_max_s))

    @property
    def recent_failures(self) -> int:
        return len(self._failures)
