"""Settings of the hand-off, read from the environment (prefix BOT_HANDOFF_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HandoffSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_HANDOFF_", extra="ignore")

    # A conversation with a person in which nobody said anything for this long goes back
    # to the bot (BOT_HANDOFF_IDLE_MINUTES).
    idle_minutes: float = Field(default=60.0, gt=0)
    idle_check_seconds: float = Field(default=60.0, gt=0)
    # Telegram takes about 20 messages a minute into one group; a second apart at least.
    group_messages_per_minute: int = Field(default=20, ge=1)
    group_min_gap_seconds: float = Field(default=1.0, ge=0)
    # How often the queue into the groups is looked at when this process queued nothing
    # (another replica may have); and how long a replica may hold a call it is sending.
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_lease_seconds: float = Field(default=60.0, gt=0)
    # After the rating, the customer's next text within this time is its comment.
    comment_minutes: float = Field(default=10.0, gt=0)
    # The same question again within this time: the bot asks a person to take over.
    repeat_minutes: float = Field(default=60.0, gt=0)
    # How many of the customer's last questions the topic's card shows.
    card_questions: int = Field(default=5, ge=0, le=20)
    # A closed hand-off keeps the customer's chat (for /takeover) this long.
    keep_chat_days: float = Field(default=30.0, gt=0)
