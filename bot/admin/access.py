"""Who may run an admin command, for which shop.

A shop's admins are the Telegram user ids in its shop.toml (`support.admins`) and those
granted the admin role in the database (`python -m backend staff grant`). Every command
checks both the role and the shop it acts on; a refusal gets one short reply and one log
line with the user id and the command, never what was sent with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from backend.staff import shops_of
from bot.services import Services
from indexer.shops import Shop

log = logging.getLogger("bot.admin")


@dataclass(frozen=True)
class AdminCall:
    """An admin command allowed: the shop it acts on and the arguments after the shop."""

    shop: Shop
    args: list[str]
    user_id: int


def known_shops(services: Services) -> list[Shop]:
    found = (services.shops.resolve(shop_id) for shop_id, _name in services.shops.choices())
    return [shop for shop in found if shop is not None]


async def admin_shops(services: Services, user_id: int) -> dict[str, Shop]:
    """The shops this user is an admin of (operators are not)."""
    shops = known_shops(services)
    async with services.database.session() as session:
        roles = await shops_of(session, shops, user_id)
    return {shop.id: shop for shop in shops if roles.get(shop.id) == "admin"}


async def refuse(message: Message, command: str, why: str) -> None:
    user_id = message.from_user.id if message.from_user else None
    log.warning("refused /%s from user %s: %s", command, user_id, why)
    await message.answer(_("This command is only for the shop's admins."), parse_mode=None)


async def admin_call(
    message: Message,
    services: Services,
    command: str,
    args: list[str],
    *,
    shop_required: bool = False,
) -> AdminCall | None:
    """The call if the sender is an admin of the shop it names (or of their only shop,
    when it names none and `shop_required` is false); otherwise the reply is sent and
    the result is None."""
    if message.from_user is None:
        return None
    user_id = message.from_user.id
    mine = await admin_shops(services, user_id)
    if not mine:
        await refuse(message, command, "not an admin of any shop")
        return None
    named = services.shops.resolve(args[0]) if args else None
    if named is not None:
        if named.id not in mine:
            await refuse(message, command, f"not an admin of {named.id}")
            return None
        return AdminCall(named, args[1:], user_id)
    if shop_required or len(mine) > 1:
        choices = ", ".join(sorted(mine))
        hint = f"Unknown shop {args[0][:40]!r}. " if args and not args[0].isdigit() else ""
        await message.answer(
            f"{hint}Name the shop: /{command} <shop> … (yours: {choices})", parse_mode=None
        )
        return None
    return AdminCall(next(iter(mine.values())), args, user_id)
