"""Settings of the request cards, read from the environment (BOT_ prefix, like the rest of
the Telegram side)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class CardSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # The hour (UTC) the daily digest goes into each support group.
    digest_hour: int = Field(default=8, ge=0, le=23, validation_alias=_env("BOT_DIGEST_HOUR"))
    # The digest lists the requests overdue and those due within this many days.
    digest_days: int = Field(default=7, ge=1, le=60, validation_alias=_env("BOT_DIGEST_DAYS"))
    # How often new cards are posted and changed ones edited.
    poll_seconds: float = Field(default=5.0, gt=0, validation_alias=_env("BOT_CARD_POLL_SECONDS"))

    @property
    def digest_within(self) -> timedelta:
        return timedelta(days=self.digest_days)
