"""The shops this deployment serves, as the bot presents them (names, contacts, aliases)."""

from __future__ import annotations

from pathlib import Path

from indexer.shops import Shop, load_shops, shop_aliases


class ShopDirectory:
    def __init__(self, shops: list[Shop]) -> None:
        self._shops = {shop.id: shop for shop in shops}
        self._aliases = shop_aliases(shops)

    @classmethod
    def from_knowledge(cls, knowledge_dir: Path) -> ShopDirectory:
        return cls(load_shops(knowledge_dir))

    def __len__(self) -> int:
        return len(self._shops)

    def resolve(self, name: str | None) -> Shop | None:
        """A shop by id or alias (deep-link payloads use either), or None."""
        if not name:
            return None
        shop_id = self._aliases.get(name.strip())
        return self._shops.get(shop_id) if shop_id else None

    def only_shop(self) -> Shop | None:
        """The single shop of a one-shop deployment, which never asks the customer to choose."""
        return next(iter(self._shops.values())) if len(self._shops) == 1 else None

    def choices(self) -> list[tuple[str, str]]:
        return [(shop.id, shop.name) for shop in sorted(self._shops.values(), key=lambda s: s.name)]
