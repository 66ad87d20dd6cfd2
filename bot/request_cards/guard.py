"""Who may act on a card: only the staff (admins and operators, `backend.staff`) of the
request's own shop, and only in that shop's support group.

Callback data can be forged and a message can come from anyone in the group, so every
press and every typed step is checked against the database, not against what the button
says: a request of another shop, a press in another chat, a member who is not staff, each
is refused the same way and logged (ids only); nothing is changed.
"""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import PrivacyRequest
from backend.staff import may
from bot.services import Services
from indexer.shops import Shop

log = logging.getLogger("bot.request_cards")

REFUSED = "You cannot act on this request: only its shop's staff can, in its support group."


class RefusedError(Exception):
    """Not this person, not here. The reason is for the log; the person sees REFUSED."""


async def staff_request(
    session: AsyncSession, services: Services, request_id: str, *, chat_id: int, user_id: int
) -> tuple[Shop, PrivacyRequest]:
    """The request and its shop, if `user_id` is its staff acting in its support group.
    The request's row is locked for the transaction: a card's step reads, changes and
    writes it back, and two staff pressing at once must not overwrite each other."""
    request = await session.get(
        PrivacyRequest, request_id, with_for_update=True, populate_existing=True
    )
    if request is None:
        raise RefusedError("no such request")
    shop = services.shops.resolve(request.shop_id)
    if shop is None or shop.support.chat_id is None or shop.support.chat_id != chat_id:
        raise RefusedError("not the support group of the request's shop")
    if not await may(session, shop, user_id, "operator"):
        raise RefusedError("not staff of the request's shop")
    return shop, request


def log_refusal(
    error: RefusedError, what: str, request_id: str, *, chat_id: int, user_id: int
) -> None:
    log.warning(
        "refused %s on request %r in chat %s by user %s: %s",
        what,
        request_id[:64],
        chat_id,
        user_id,
        error,
    )
