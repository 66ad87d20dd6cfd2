"""Where an operator's message comes from, and whether its sender may act there.

Only a shop's own support group counts for that shop: a topic id means nothing in any
other chat, and a group that is no shop's support group is none of the hand-off's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import Message

from backend.handoffs import open_handoff_in_topic, topic_at
from backend.models import Handoff, SupportTopic
from backend.staff import may
from bot.services import Services
from bot.shop_directory import ShopDirectory
from indexer.shops import Shop


def shops_in_group(shops: ShopDirectory, chat_id: int) -> list[Shop]:
    """The shops whose support group `chat_id` is (usually one; a company may share it)."""
    found = []
    for shop_id, _ in shops.choices():
        shop = shops.resolve(shop_id)
        if shop is not None and shop.support.chat_id == chat_id:
            found.append(shop)
    return found


@dataclass(frozen=True)
class StaffPlace:
    """A message in a support group: the group's shops, and, in a customer's topic, that
    topic, its shop and its open hand-off."""

    shops: list[Shop]
    topic: SupportTopic | None = None
    handoff: Handoff | None = None

    @property
    def shop(self) -> Shop | None:
        """The shop the message is about: the topic's, else the group's only one."""
        if self.topic is not None:
            return next((s for s in self.shops if s.id == self.topic.shop_id), None)
        return self.shops[0] if len(self.shops) == 1 else None


async def staff_place(message: Message, services: Services) -> StaffPlace:
    shops = shops_in_group(services.shops, message.chat.id)
    thread = message.message_thread_id if message.is_topic_message else None
    if not shops or thread is None:
        return StaffPlace(shops)
    async with services.database.session() as session:
        topic = await topic_at(session, message.chat.id, thread)
        if topic is None or topic.shop_id not in {shop.id for shop in shops}:
            return StaffPlace(shops)
        handoff = await open_handoff_in_topic(session, message.chat.id, thread)
    return StaffPlace(shops, topic, handoff)


async def is_staff(message: Message, services: Services, shop: Shop) -> bool:
    """An admin or operator of `shop` (`backend.staff`), or the group's anonymous admin."""
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return True
    user = message.from_user
    if user is None or user.is_bot:
        return False
    async with services.database.session() as session:
        return await may(session, shop, user.id, "operator")
