"""What the handlers need, built once per process and handed to them by the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from backend.database import Database
from backend.privacy_requests import MailSender, RequestRules
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
    # Privacy requests: the rules they follow, and the mail that carries their codes.
    request_rules: RequestRules
    mail: MailSender
    retention_days: int = 30
