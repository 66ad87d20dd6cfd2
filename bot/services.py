"""What the handlers need, built once per process and handed to them by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from backend.database import Database
from bot.answer_engine import AnswerEngine
from bot.settings import BotSettings
from bot.shop_directory import ShopDirectory


@dataclass
class Services:
    settings: BotSettings
    engine: AnswerEngine
    database: Database
    shops: ShopDirectory
    pseudonym_key: bytes
    retention_days: int = 30
