"""The cards of privacy requests in their shops' support groups (for shops with no backend
of their own, whose staff work the requests from Telegram): which requests still need a
card, the claim that makes one process post it, and the requests of the daily digest.

A card is claimed before it is posted: a `RequestCard` row with no message yet
(`message_id` 0), inserted only if the request has none, in a transaction of its own. The
process whose insert went in posts the card and then records its message; one that dies
in between leaves a claim that another takes over once `lease` has passed. So a request
gets one card even with several copies of the bot, and a send never holds a transaction
open (SQLite has one writer at a time).

The digest goes out once a day. On PostgreSQL one process leads (a session-level advisory
lock, held for as long as that process lives) and only the leader sends it; when it dies
its connection closes, the lock frees and another process takes over. SQLite has no such
lock: there every process sends its own digest, so a deployment on SQLite runs one bot
process (which its single writer wants anyway).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, or_, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import Database, advisory_lock_key
from backend.models import DEADLINE_RUNS_IN, PrivacyRequest, RequestCard

# A claim's message id until the card is posted (Telegram's ids start at 1).
UNPOSTED: Final = 0
# Longer than posting one card can take.
CLAIM_LEASE: Final = timedelta(minutes=2)
DIGEST_LOCK_NAME: Final = "privacy-help-assistant:request-card-digest"


async def requests_without_card(
    session: AsyncSession,
    shop_ids: Collection[str],
    *,
    now: datetime,
    lease: timedelta = CLAIM_LEASE,
    limit: int = 50,
) -> list[PrivacyRequest]:
    """Open requests somebody must work on (verified or in progress) of these shops with no
    card yet, or only a claim whose lease ran out (its process died), oldest first; a
    request closed before its card went out needs none."""
    if not shop_ids:
        return []
    taken = select(col(RequestCard.request_id)).where(
        or_(
            col(RequestCard.message_id) != UNPOSTED,
            col(RequestCard.created_at) >= now - lease,
        )
    )
    rows = await session.exec(
        select(PrivacyRequest)
        .where(col(PrivacyRequest.shop_id).in_(list(shop_ids)))
        .where(col(PrivacyRequest.status).in_(DEADLINE_RUNS_IN))
        .where(col(PrivacyRequest.id).not_in(taken))
        .order_by(col(PrivacyRequest.created_at), col(PrivacyRequest.id))
        .limit(limit)
    )
    return list(rows)


async def claim_card(
    session: AsyncSession,
    request_id: str,
    group_chat_id: int,
    *,
    now: datetime,
    lease: timedelta = CLAIM_LEASE,
) -> bool:
    """Whether this caller is to post the card of `request_id`: it inserted the claim, or
    took over one whose lease ran out. Commit before posting, so other processes see it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = await session.exec(
        insert(RequestCard)
        .values(
            request_id=request_id,
            group_chat_id=group_chat_id,
            message_id=UNPOSTED,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["request_id"])
    )
    if inserted.rowcount == 1:
        return True
    taken = await session.exec(
        update(RequestCard)
        .where(col(RequestCard.request_id) == request_id)
        .where(col(RequestCard.message_id) == UNPOSTED)
        .where(col(RequestCard.created_at) < now - lease)
        .values(group_chat_id=group_chat_id, created_at=now)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


async def card_posted(
    session: AsyncSession, request_id: str, message_id: int, *, now: datetime
) -> bool:
    """Record the posted card's message; False if the claim was taken over meanwhile."""
    done = await session.exec(
        update(RequestCard)
        .where(col(RequestCard.request_id) == request_id)
        .where(col(RequestCard.message_id) == UNPOSTED)
        .values(message_id=message_id, created_at=now)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


async def release_claim(session: AsyncSession, request_id: str) -> None:
    """The card could not be posted: let the next round try again."""
    await session.exec(
        delete(RequestCard)
        .where(col(RequestCard.request_id) == request_id)
        .where(col(RequestCard.message_id) == UNPOSTED)
    )


async def card_of(session: AsyncSession, request_id: str) -> RequestCard | None:
    """The posted card of a request (None: none, or only claimed so far)."""
    card = await session.get(RequestCard, request_id)
    return card if card is not None and card.message_id != UNPOSTED else None


async def card_at(session: AsyncSession, group_chat_id: int, message_id: int) -> RequestCard | None:
    """The card that is message `message_id` of the group, if that message is one."""
    if message_id == UNPOSTED:
        return None
    found = await session.exec(
        select(RequestCard)
        .where(col(RequestCard.group_chat_id) == group_chat_id)
        .where(col(RequestCard.message_id) == message_id)
    )
    return found.first()


async def cards_changed_since(
    session: AsyncSession, since: datetime, *, limit: int = 200
) -> list[tuple[RequestCard, PrivacyRequest]]:
    """Posted cards whose request changed after `since` (through the API, the customer,
    the housekeeping or a card's button), least recently changed first."""
    rows = await session.exec(
        select(RequestCard, PrivacyRequest)
        .join(PrivacyRequest, col(PrivacyRequest.id) == col(RequestCard.request_id))
        .where(col(RequestCard.message_id) != UNPOSTED)
        .where(col(PrivacyRequest.updated_at) > since)
        .order_by(col(PrivacyRequest.updated_at), col(PrivacyRequest.id))
        .limit(limit)
    )
    return [(card, request) for card, request in rows]


async def digest_requests(
    session: AsyncSession, shop_id: str, *, now: datetime, within: timedelta
) -> list[PrivacyRequest]:
    """The shop's open requests overdue or due within `within`, the most urgent first."""
    rows = await session.exec(
        select(PrivacyRequest)
        .where(col(PrivacyRequest.shop_id) == shop_id)
        .where(col(PrivacyRequest.status).in_(DEADLINE_RUNS_IN))
        .where(PrivacyRequest.deadline_column() <= now + within)
        .order_by(PrivacyRequest.deadline_column(), col(PrivacyRequest.id))
    )
    return list(rows)


def split_by_deadline(
    requests: Sequence[PrivacyRequest], now: datetime
) -> tuple[list[PrivacyRequest], list[PrivacyRequest]]:
    """(overdue, due soon), each in the order given."""
    overdue = [r for r in requests if r.deadline is not None and r.deadline < now]
    late = {r.id for r in overdue}
    return overdue, [r for r in requests if r.id not in late]


class DigestLeadership:
    """Whether this process sends the daily digests (see the module's docstring).

    On PostgreSQL the lock lives on a connection of its own, kept open while leading;
    `leads` checks that connection every time, so a leader whose connection broke stops
    leading (and the server has freed the lock for another). On SQLite: always.
    """

    def __init__(self, database: Database, name: str = DIGEST_LOCK_NAME) -> None:
        self._database = database
        self._key = advisory_lock_key(name)
        self._connection: AsyncConnection | None = None

    @property
    def _on_postgresql(self) -> bool:
        return self._database.engine.dialect.name == "postgresql"

    async def leads(self) -> bool:
        """True while this process holds (or just took) the lead."""
        if not self._on_postgresql:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                await self._connection.commit()
                return True
            except Exception:
                await self.release()
        connection = await self._database.engine.connect()
        try:
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            )
            # Outside a transaction, so that the pool never sees one left open.
            await connection.commit()
        except Exception:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def release(self) -> None:
        """Give up the lead (closing the connection frees the lock, also when it broke)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await connection.commit()
        except Exception:
            await connection.invalidate()
        finally:
            await connection.close()
