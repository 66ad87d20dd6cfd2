"""Customer profiles: the shop a customer is bound to and the language they chose, and
forgetting a customer altogether."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.conversation_log import erase_conversations
from backend.database import insert_for
from backend.handoffs import erase_handoffs
from backend.models import CustomerProfile, utc_now
from backend.policy_announcements import erase_subscriptions


@dataclass(frozen=True)
class ForgetReport:
    """What forgetting a customer deleted."""

    profile: bool
    conversation_records: int
    feedback: int
    handoffs: int = 0
    subscriptions: int = 0


async def get_profile(session: AsyncSession, pseudonym: str) -> CustomerProfile | None:
    return await session.get(CustomerProfile, pseudonym)


async def bind_shop(session: AsyncSession, pseudonym: str, shop_id: str) -> CustomerProfile:
    """Bind the customer to `shop_id` (the shop whose link they came through)."""
    return await _upsert(session, pseudonym, shop_id=shop_id)


async def set_language(session: AsyncSession, pseudonym: str, language: str) -> CustomerProfile:
    """Remember the language the customer chose; it wins over the detected one."""
    return await _upsert(session, pseudonym, language=language)


async def forget_customer(session: AsyncSession, pseudonym: str) -> ForgetReport:
    """Delete the profile and every conversation record and feedback of `pseudonym`."""
    records, feedback = await erase_conversations(session, pseudonym)
    handoffs = await erase_handoffs(session, pseudonym)
    subscriptions = await erase_subscriptions(session, pseudonym)
    result = await session.exec(
        delete(CustomerProfile).where(col(CustomerProfile.pseudonym) == pseudonym)
    )
    return ForgetReport(
        profile=result.rowcount == 1,
        conversation_records=records,
        feedback=feedback,
        handoffs=handoffs,
        subscriptions=subscriptions,
    )


async def _upsert(session: AsyncSession, pseudonym: str, **values: Any) -> CustomerProfile:
    # One statement rather than read-then-insert: two updates of a new customer handled
    # at the same moment would otherwise both insert, and one would fail.
    statement = insert_for(session, CustomerProfile)
    now = utc_now()
    await session.exec(
        statement.values(
            pseudonym=pseudonym, created_at=now, updated_at=now, **values
        ).on_conflict_do_update(index_elements=["pseudonym"], set_={**values, "updated_at": now})
    )
    profile = await session.get(CustomerProfile, pseudonym, populate_existing=True)
    assert profile is not None  # just written in this transaction
    return profile
