"""The support groups of the shops that have one: where their cards and digests go."""

from __future__ import annotations

from bot.shop_directory import ShopDirectory


def support_groups(shops: ShopDirectory) -> dict[str, int]:
    """Shop id → support group chat id, for the shops that have a group."""
    groups: dict[str, int] = {}
    for shop_id, _ in shops.choices():
        shop = shops.resolve(shop_id)
        if shop is not None and shop.support.chat_id is not None:
            groups[shop.id] = shop.support.chat_id
    return groups
