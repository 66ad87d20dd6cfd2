"""What the handlers need, built once per process and handed to them by the dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from backend.database import Database
from backend.policies import PolicyDesk
from backend.privacy_requests import MailSender, RequestRules
from backend.privacy_requests.exports import ExportPolicy
from bot.answer_engine import AnswerEngine
from bot.handoff.desk import HandoffDesk
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
    # What an access export may be (type and size), also when staff send it in a group.
    export_policy: ExportPolicy = field(default_factory=ExportPolicy)
    # Where admins publish policy versions (None: not from this process), and the signal
    # that one was published or switched to, for the announcer of policy changes.
    policy_desk: PolicyDesk | None = None
    policy_changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Hand-off to the shops' support groups: its settings, per-customer locks, doorbell.
    handoff: HandoffDesk = field(default_factory=HandoffDesk)
    # What a door keeps of a chat besides the bot's records (the web chat's transcript),
    # erased when the customer sends /forget: each is called with the chat's id.
    # The port the API (and the web chat) listens on, once it does.
    api_port: int | None = None
    forget_hooks: list[Callable[[int], Awaitable[None]]] = field(default_factory=list)
