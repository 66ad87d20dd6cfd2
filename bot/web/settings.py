"""Settings of the web chat (env prefix WEB_CHAT_): limits that keep one visitor or one
address from taking a replica's sockets or the assistant's time."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebChatSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_CHAT_", extra="ignore")

    # Open sockets at once: per visitor (their tabs) and per network address (a household
    # or an office behind one address has many visitors).
    sockets_per_visitor: int = Field(default=8, ge=1)
    sockets_per_address: int = Field(default=64, ge=1)
    # Frames (messages and button presses) per address in a sliding window; a visitor's
    # own messages are also limited by the bot's flood control (BOT_THROTTLE_*).
    frames_per_address: int = Field(default=120, ge=1)
    frames_window_seconds: float = Field(default=10.0, gt=0)
    # A frame larger than this closes the socket (1009); a message longer than
    # `max_message_chars` is refused with a message.
    max_frame_bytes: int = Field(default=20_000, ge=1024)
    max_message_chars: int = Field(default=4096, ge=1)
    # A socket with no frame from its page for this long is closed (an open page pings
    # every minute).
    idle_seconds: float = Field(default=600.0, gt=0)
