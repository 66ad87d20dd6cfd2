"""Settings of the admin operations, read from the environment (prefix ``BOT_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore")

    # Questions closer than this (cosine of their embeddings) are one group in
    # /unanswered. multilingual-e5 puts any two questions above 0.75: at 0.85 "how long
    # is my address stored" and "when will my parcel arrive" would be one group.
    unanswered_similarity: float = Field(default=0.9, gt=0, le=1)
    unanswered_groups: int = Field(default=12, ge=1, le=50)
    # Policy-change announcements, overall: Telegram takes about 30 messages a second
    # from a bot; the answers to customers need the rest.
    announcements_per_second: float = Field(default=25.0, gt=0, le=30)
    announcement_check_seconds: float = Field(default=60.0, gt=0)
