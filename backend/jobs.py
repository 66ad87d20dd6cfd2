"""The periodic housekeeping of the backend: expiring unverified requests, reminding shops
of deadlines, erasing the e-mail addresses of closed requests, purging what is kept no
longer (closed requests, downloaded exports, answers to retried API calls).

Each job runs in a transaction of its own, so that one that fails (a lock timeout, a bug)
neither undoes nor stops the others; it is tried again in the next round. Several
housekeepers may run against one PostgreSQL database: every job is safe to repeat.

Nothing personal goes into the log: counts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, astuple, dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import Database
from backend.models import utc_now
from backend.privacy_requests.exports import ExportPolicy, purge_exports
from backend.privacy_requests.housekeeping import (
    erase_sealed_emails,
    expire_unverified,
    purge_closed,
    purge_idempotency_records,
)
from backend.privacy_requests.reminders import send_reminders
from backend.privacy_requests.settings import RequestRules

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")


@dataclass(frozen=True)
class HousekeepingReport:
    """What one round changed; a job that failed counts 0."""

    expired: int = 0
    purged_requests: int = 0
    erased_emails: int = 0
    due_soon: int = 0
    overdue: int = 0
    purged_exports: int = 0
    purged_idempotency: int = 0

    @property
    def changed_anything(self) -> bool:
        return any(astuple(self))


class Housekeeper:
    """Runs the housekeeping jobs every `interval_seconds`.

    `clock` decides what is old and what is due (tests move it on instead of sleeping).
    """

    def __init__(
        self,
        database: Database,
        rules: RequestRules,
        export_policy: ExportPolicy,
        *,
        interval_seconds: float = 60.0,
        clock: Clock = utc_now,
    ) -> None:
        self.database = database
        self.rules = rules
        self.export_policy = export_policy
        self.interval_seconds = interval_seconds
        self._clock = clock

    async def run_once(self) -> HousekeepingReport:
        """One round of every job, at one moment; what it changed."""
        now = self._clock()
        rules = self.rules
        # Expired first, so that an expiry is already closed for the jobs after it; the
        # addresses erased after the purge, so that only those of requests kept count.
        expired = await self._run(
            "expire_unverified", 0, lambda s: expire_unverified(s, rules=rules, now=now)
        )
        due_soon, overdue = await self._run(
            "send_reminders", (0, 0), lambda s: send_reminders(s, rules=rules, now=now)
        )
        exports = await self._run(
            "purge_exports",
            0,
            lambda s: purge_exports(s, policy=self.export_policy, now=now),
        )
        purged = await self._run("purge_closed", 0, lambda s: purge_closed(s, rules=rules, now=now))
        erased = await self._run(
            "erase_sealed_emails", 0, lambda s: erase_sealed_emails(s, rules=rules, now=now)
        )
        idempotency = await self._run(
            "purge_idempotency_records", 0, lambda s: purge_idempotency_records(s, now=now)
        )
        report = HousekeepingReport(
            expired=expired,
            purged_requests=purged,
            erased_emails=erased,
            due_soon=due_soon,
            overdue=overdue,
            purged_exports=exports,
            purged_idempotency=idempotency,
        )
        if report.changed_anything:
            counts = " ".join(f"{name}={count}" for name, count in asdict(report).items())
            logger.info("housekeeping: %s", counts)
        return report

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Run a round every `interval_seconds` until `stop` is set; a failure never
        ends the loop."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.exception("housekeeping: a round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_seconds)

    async def _run(self, name: str, failed: T, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`job` in a transaction of its own; `failed` when it raised (and rolled back)."""
        try:
            async with self.database.session() as session:
                return await job(session)
        except Exception:
            logger.exception("housekeeping: %s failed", name)
            return failed
