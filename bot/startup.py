"""Every setting `python -m bot` uses, read and checked before anything starts.

A missing or malformed value stops the app with one line naming the variable (see
backend.settings_check), before it opens the database, Redis or a connection to
Telegram; so do combinations that cannot work (a webhook without a token, Redis or
PostgreSQL without their driver, replicas without a shared pseudonym key).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from backend.api.settings import ApiSettings
from backend.index_signal import SignalSettings
from backend.observability.logs import LogSettings
from backend.privacy_requests import PrivacyRequestSettings, SmtpSettings
from backend.settings import BackendSettings
from backend.settings_check import SettingsError, load
from backend.webhooks.settings import WebhookSettings
from bot.admin.settings import AdminSettings
from bot.handoff.settings import HandoffSettings
from bot.request_cards.settings import CardSettings
from bot.settings import BotSettings
from bot.web.settings import WebChatSettings
from indexer.settings import IndexerSettings


@dataclass(frozen=True)
class AppConfig:
    bot: BotSettings
    indexer: IndexerSettings
    backend: BackendSettings
    requests: PrivacyRequestSettings
    smtp: SmtpSettings
    api: ApiSettings
    webhooks: WebhookSettings
    signals: SignalSettings
    logs: LogSettings
    # `python -m bot --web`: the web chat instead of the terminal chat when there is no token.
    web_chat: bool = False

    @property
    def telegram(self) -> bool:
        return self.bot.bot_token is not None

    @property
    def database_backend(self) -> str:
        """ "sqlite" or "postgresql" (SettingsError for a URL that is neither)."""
        try:
            backend = make_url(self.backend.database_url).get_backend_name()
        except ArgumentError:
            raise SettingsError("DATABASE_URL: not a database URL") from None
        if backend not in ("sqlite", "postgresql"):
            raise SettingsError(f"DATABASE_URL: {backend} is not supported (sqlite or postgresql)")
        return backend

    def advice(self) -> list[str]:
        """Settings that work, but not as a shop with replicas would want."""
        if self.telegram and self.database_backend == "postgresql" and not self.signals.redis_url:
            return [
                "PostgreSQL without REDIS_URL: flows, flood control and update claims are "
                "kept in this process's memory; run a single replica, or set REDIS_URL"
            ]
        return []


def load_config(*, web_chat: bool = False) -> AppConfig:
    """All settings, or SettingsError naming what is wrong."""
    config = AppConfig(
        bot=load(BotSettings),
        indexer=load(IndexerSettings),
        backend=load(BackendSettings),
        requests=load(PrivacyRequestSettings),
        smtp=load(SmtpSettings),
        api=load(ApiSettings),
        webhooks=load(WebhookSettings),
        signals=load(SignalSettings),
        logs=load(LogSettings),
        web_chat=web_chat,
    )
    # Read where they are used; loaded here only so that a bad value stops the start.
    load(AdminSettings)
    load(HandoffSettings)
    load(CardSettings)
    load(WebChatSettings)
    _check_together(config)
    return config


def _check_together(config: AppConfig) -> None:
    token = config.bot.bot_token
    if token is not None and not re.fullmatch(r"\d+:[\w-]+", token.get_secret_value()):
        raise SettingsError("BOT_TOKEN: not a bot token (<digits>:<letters>, from @BotFather)")
    if config.bot.webhook_url and config.bot.bot_token is None:
        raise SettingsError("WEBHOOK_URL is set but BOT_TOKEN is not: webhook mode needs both")
    if config.database_backend == "postgresql":
        _needs_package("asyncpg", "DATABASE_URL names PostgreSQL", "postgres")
        if not os.environ.get("PSEUDONYM_KEY"):
            raise SettingsError(
                "PSEUDONYM_KEY is not set: with a shared PostgreSQL database every replica "
                "must use the same key (at least 32 random bytes)"
            )
    redis_url = config.signals.redis_url
    if redis_url:
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("REDIS_URL: must start with redis://, rediss:// or unix://")
        _needs_package("redis", "REDIS_URL is set", "redis")


def _needs_package(module: str, because: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise SettingsError(
            f"{because} but the {module} package is not installed "
            f"(pip install 'privacy-help-assistant[{extra}]')"
        )
