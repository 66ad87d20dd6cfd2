"""The steps staff take from a card, each in one unit of work with the check of who acts
(`guard`): the same backend functions, state machine, deadlines, audit trail and customer
notices as the REST API, with the actor "operator"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import PrivacyRequest
from backend.privacy_requests import complete, deny, extend, start_work
from backend.privacy_requests.errors import IllegalTransitionError
from backend.privacy_requests.exports import ExportPolicy, attach_export
from backend.privacy_requests.fulfilment import SystemOutcome, report_outcomes
from backend.privacy_requests.lifecycle import Actor, DenialReason
from bot.request_cards.guard import staff_request
from bot.services import Services

OPERATOR: Final[Actor] = "operator"
Step = Callable[[AsyncSession, PrivacyRequest], Awaitable[Any]]


@dataclass(frozen=True)
class Who:
    """Who presses or types, and where."""

    chat_id: int
    user_id: int


async def act(services: Services, request_id: str, who: Who, step: Step) -> PrivacyRequest:
    """Run `step` on the request if `who` may (RefusedError otherwise); a refused or failed
    step (PrivacyRequestError) changes nothing."""
    async with services.database.session() as session:
        _, request = await staff_request(
            session, services, request_id, chat_id=who.chat_id, user_id=who.user_id
        )
        await step(session, request)
        return request


async def look(services: Services, request_id: str, who: Who) -> PrivacyRequest:
    """The request, if `who` may act on it; nothing changes."""

    async def nothing(session: AsyncSession, request: PrivacyRequest) -> None:
        return None

    return await act(services, request_id, who, nothing)


def starting(now: datetime) -> Step:
    return lambda session, request: start_work(session, request, actor=OPERATOR, now=now)


def extending(months: int, reason: str, now: datetime) -> Step:
    return lambda session, request: extend(
        session, request, months, reason, actor=OPERATOR, now=now
    )


def denying(code: DenialReason, text: str, now: datetime) -> Step:
    return lambda session, request: deny(session, request, code, text, actor=OPERATOR, now=now)


def completing(now: datetime) -> Step:
    """An unsubscribe (or any request that needs nothing more) closed as done."""
    return lambda session, request: complete(session, request, actor=OPERATOR, now=now)


def reporting(outcomes: Sequence[SystemOutcome], now: datetime) -> Step:
    """A deletion's outcomes: completed when no system failed; with a failure they are
    recorded and the request stays open, to be completed once that system is done."""

    async def step(session: AsyncSession, request: PrivacyRequest) -> None:
        if any(outcome.outcome == "failed" for outcome in outcomes):
            await report_outcomes(session, request, outcomes, actor=OPERATOR, now=now)
        else:
            await complete(session, request, outcomes=outcomes, actor=OPERATOR, now=now)

    return step


def exporting(
    filename: str, content_type: str, data: bytes, policy: ExportPolicy, now: datetime
) -> Step:
    """An access request completed with its export, stored in the same unit of work."""

    async def step(session: AsyncSession, request: PrivacyRequest) -> None:
        if request.status != "in_progress":
            # Checked first: attach_export would take it while verified, complete would not.
            raise IllegalTransitionError(request.id, request.status, "completed")
        await attach_export(
            session, request, filename, content_type, data, policy=policy, actor=OPERATOR, now=now
        )
        await complete(session, request, actor=OPERATOR, now=now)

    return step
