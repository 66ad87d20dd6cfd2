"""When the next attempt of a failed delivery is due."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final

# After the first failure 5 s, then 5 min, 30 min, 2 h, 5 h, and 10 h from then on.
RETRY_DELAYS: Final = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
# Spread retries of many deliveries that failed together (a shop's outage) apart.
JITTER: Final = 0.2
MAX_RETRY_AFTER: Final = timedelta(hours=10)


def retry_delay(failed_attempts: int, rng: random.Random) -> timedelta:
    """The wait after the `failed_attempts`-th failure, with up to ±20 % jitter."""
    base = RETRY_DELAYS[min(failed_attempts, len(RETRY_DELAYS)) - 1]
    return base * (1 + rng.uniform(-JITTER, JITTER))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date), at most 10 h;
    None when there is none or it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        wait = max(moment - now, timedelta(0))
    return min(wait, MAX_RETRY_AFTER)
