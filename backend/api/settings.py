"""Settings of the REST API for shops' backends, read from the environment.

`API_HOST`/`API_PORT` name where it listens; `API_PUBLIC_URL` is how customers' browsers
reach it (for export download links), when that differs.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.privacy_requests.exports import DEFAULT_MAX_BYTES, ExportPolicy


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="API_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = Field(default=None, pattern=r"^https?://")
    # Host header values accepted besides the public URL's (a guard against DNS
    # rebinding: a page elsewhere cannot talk to an API on someone's loopback).
    allowed_hosts: list[str] = Field(default_factory=list)
    export_max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)
    export_link_days: int = Field(default=7, ge=1)
    export_keep_days: int = Field(default=3, ge=0)
    # A page of a list holds at most this many items.
    page_limit: int = Field(default=100, ge=1, le=1000)

    def base_url(self) -> str:
        """Where customers' browsers reach the API, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def export_policy(self) -> ExportPolicy:
        return ExportPolicy(
            max_bytes=self.export_max_bytes,
            link_ttl=timedelta(days=self.export_link_days),
            keep_after_download=timedelta(days=self.export_keep_days),
        )
