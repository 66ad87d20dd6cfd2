"""Settings of the Telegram side, read from the environment.

The Telegram names are the conventional ones (BOT_TOKEN, WEBHOOK_URL, BOT_API_URL); the
rest carry the BOT_ prefix.
"""

from __future__ import annotations

import hashlib

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LANGUAGES = ("en", "cs", "uk", "sv", "ru", "de", "pl")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    bot_token: SecretStr | None = Field(default=None, validation_alias=_env("BOT_TOKEN"))
    webhook_url: str | None = Field(
        default=None, pattern=r"^https?://", validation_alias=_env("WEBHOOK_URL")
    )
    # Shared by every replica; derived from the token when not set, so replicas agree.
    webhook_secret: SecretStr | None = Field(default=None, validation_alias=_env("WEBHOOK_SECRET"))
    webhook_path: str = Field(default="/telegram/webhook", validation_alias=_env("WEBHOOK_PATH"))
    bot_api_url: str | None = Field(
        default=None, pattern=r"^https?://", validation_alias=_env("BOT_API_URL")
    )
    web_host: str = Field(default="127.0.0.1", validation_alias=_env("WEB_HOST"))
    web_port: int = Field(default=8081, ge=0, le=65535, validation_alias=_env("WEB_PORT"))
    default_shop: str | None = Field(default=None, validation_alias=_env("BOT_DEFAULT_SHOP"))
    # Incoming flood control per customer: at most `throttle_messages` in `throttle_seconds`.
    throttle_messages: int = Field(default=8, ge=1, validation_alias=_env("BOT_THROTTLE_MESSAGES"))
    throttle_seconds: float = Field(
        default=10.0, gt=0, validation_alias=_env("BOT_THROTTLE_SECONDS")
    )
    # "typing…" only when an answer is not ready this soon: most are ready in a tenth of a
    # second, and the indicator costs a Bot API call (0: always shown first).
    typing_after_seconds: float = Field(
        default=0.3, ge=0, validation_alias=_env("BOT_TYPING_AFTER_SECONDS")
    )
    max_question_chars: int = Field(
        default=1000, ge=50, validation_alias=_env("BOT_MAX_QUESTION_CHARS")
    )
    # Pace sends within Telegram's limits; off only against a test server that has none.
    sending_limits: bool = Field(default=True, validation_alias=_env("BOT_SENDING_LIMITS"))
    # How often each process looks for a newly published index version even without a
    # signal (PostgreSQL NOTIFY, Redis): one ~12 µs pointer read, so that a switch never
    # takes more than a few seconds, loading included (see bot.index_follow).
    index_check_seconds: float = Field(
        default=2.0, gt=0, validation_alias=_env("BOT_INDEX_CHECK_SECONDS")
    )
    # On SIGTERM, how long /readyz says "shutting down" before the server stops listening
    # (a load balancer's health check takes that long to notice).
    drain_seconds: float = Field(
        default=1.0, ge=0, le=60, validation_alias=_env("BOT_DRAIN_SECONDS")
    )
    # How long a replica's claim on an update it is handling keeps others from taking it
    # over (see bot.update_claims); after that a re-delivery is handled elsewhere.
    update_lease_seconds: float = Field(
        default=30.0, gt=0, le=600, validation_alias=_env("BOT_UPDATE_LEASE_SECONDS")
    )
    # On SIGTERM, updates being handled get this long to finish (compose's stop grace
    # period is longer).
    shutdown_seconds: float = Field(
        default=20.0, gt=0, le=300, validation_alias=_env("BOT_SHUTDOWN_SECONDS")
    )
    # Connections to Redis per pool (this process has two: flows' state, and the rest);
    # a call beyond them waits this long for one to be free.
    redis_max_connections: int = Field(
        default=200, ge=2, validation_alias=_env("BOT_REDIS_MAX_CONNECTIONS")
    )
    redis_pool_timeout_seconds: float = Field(
        default=10.0, gt=0, validation_alias=_env("BOT_REDIS_POOL_TIMEOUT_SECONDS")
    )
    purge_interval_seconds: float = Field(
        default=3600.0, gt=0, validation_alias=_env("BOT_PURGE_INTERVAL_SECONDS")
    )

    def secret_token(self) -> str:
        """The X-Telegram-Bot-Api-Secret-Token value: 1-256 chars of [A-Za-z0-9_-]."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        token = self.bot_token.get_secret_value() if self.bot_token else ""
        return hashlib.sha256(("webhook:" + token).encode()).hexdigest()
