"""Settings of the webhook outbox, read from the environment (prefix `BACKEND_WEBHOOK_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKEND_WEBHOOK_", extra="ignore")

    # Off by default: otherwise a shop could make the server call into its own network.
    allow_private_targets: bool = False
    timeout_seconds: float = Field(default=15.0, gt=0)
    # Longer than a send can take, so that no other worker takes a delivery in flight.
    lease_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=20, ge=1)
    poll_seconds: float = Field(default=1.0, gt=0)
    retry_window_hours: float = Field(default=72.0, gt=0)
    # How long the previous secret keeps signing after a rotation.
    rotation_overlap_hours: float = Field(default=24.0, ge=0)
