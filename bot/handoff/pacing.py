"""How fast calls may go into one support group: Telegram takes about 20 messages a minute
into a group, and answers more with 429. The pacer decides; the sender obeys.

The decision is a pure function of the times of the last sends and the clock the caller
passes, so it can be checked without waiting.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=1)


class GroupPacer:
    """At most `per_minute` sends into a group in any minute, and `min_gap` between two."""

    def __init__(self, per_minute: int, min_gap_seconds: float = 0.0) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.min_gap = timedelta(seconds=min_gap_seconds)
        self._sent: dict[int, deque[datetime]] = {}

    def wait(self, group_chat_id: int, now: datetime) -> float:
        """Seconds until the next send into the group is allowed (0: now)."""
        sent = self._sent.get(group_chat_id)
        if not sent:
            return 0.0
        allowed = sent[-1] + self.min_gap
        if len(sent) >= self.per_minute:
            allowed = max(allowed, sent[-self.per_minute] + WINDOW)
        return max(0.0, (allowed - now).total_seconds())

    def record(self, group_chat_id: int, at: datetime) -> None:
        """A call went into the group at `at`."""
        sent = self._sent.setdefault(group_chat_id, deque(maxlen=self.per_minute))
        sent.append(at)
