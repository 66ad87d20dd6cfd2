"""Who may act for a shop: its admins (the Telegram user ids in `shop.toml`, or granted in
the database) and its operators (granted in the database). An admin may do everything an
operator may."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import StaffMember, utc_now
from indexer.shops import Shop

Role = Literal["admin", "operator"]


async def role_of(session: AsyncSession, shop: Shop, user_id: int) -> Role | None:
    """The user's role for `shop`, or None: not staff of this shop."""
    if user_id in shop.support.admins:
        return "admin"
    member = await session.get(StaffMember, (shop.id, user_id))
    if member is None:
        return None
    role: Role = "admin" if member.role == "admin" else "operator"
    return role


async def may(session: AsyncSession, shop: Shop, user_id: int, needed: Role) -> bool:
    """Whether the user holds `needed` (an admin holds both roles) for `shop`."""
    role = await role_of(session, shop, user_id)
    return role == "admin" or (role is not None and role == needed)


async def shops_of(session: AsyncSession, shops: Iterable[Shop], user_id: int) -> dict[str, Role]:
    """Every shop the user is staff of, with the role."""
    found: dict[str, Role] = {}
    for shop in shops:
        role = await role_of(session, shop, user_id)
        if role is not None:
            found[shop.id] = role
    return found


async def grant(
    session: AsyncSession, shop_id: str, user_id: int, role: Role, *, granted_by: str
) -> StaffMember:
    if role not in get_args(Role):
        raise ValueError(f"unknown role {role!r}")
    member = await session.get(StaffMember, (shop_id, user_id))
    if member is None:
        member = StaffMember(shop_id=shop_id, telegram_user_id=user_id, role=role)
    member.role = role
    member.granted_by = granted_by
    member.created_at = utc_now()
    session.add(member)
    await session.flush()
    return member


async def revoke(session: AsyncSession, shop_id: str, user_id: int) -> bool:
    result = await session.exec(
        delete(StaffMember)
        .where(col(StaffMember.shop_id) == shop_id)
        .where(col(StaffMember.telegram_user_id) == user_id)
    )
    return result.rowcount == 1


async def staff_of(session: AsyncSession, shop_id: str) -> list[StaffMember]:
    rows = await session.exec(
        select(StaffMember)
        .where(col(StaffMember.shop_id) == shop_id)
        .order_by(col(StaffMember.telegram_user_id))
    )
    return list(rows)
