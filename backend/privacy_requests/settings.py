"""Settings of privacy requests and of the mail that carries their codes.

Request rules use the backend's prefix `BACKEND_`; the mail server the conventional `SMTP_`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.settings import BackendSettings


@dataclass(frozen=True)
class RequestRules:
    """The rules privacy requests follow, passed to every service call that needs them.

    `server_key` keys the e-mail and code hashes; everything else has the issue's defaults.
    """

    server_key: bytes
    deadline_months: int = 1
    request_limit: int = 5
    request_limit_period: timedelta = timedelta(days=30)
    retention_months: int = 36
    code_ttl: timedelta = timedelta(minutes=10)
    code_max_attempts: int = 5
    code_resend_cooldown: timedelta = timedelta(seconds=60)
    code_max_sends: int = 5
    unverified_expiry: timedelta = timedelta(hours=24)
    # How long the shop can still read a closed request's e-mail address.
    sealed_email_keep: timedelta = timedelta(days=30)
    # How long before its deadline a request is `due_soon`.
    due_soon_before: timedelta = timedelta(days=7)


class PrivacyRequestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKEND_", extra="ignore")

    request_deadline_months: int = Field(default=1, ge=1, le=12)
    request_limit: int = Field(default=5, ge=1)
    request_limit_days: int = Field(default=30, ge=1)
    request_retention_months: int = Field(default=36, ge=1)
    code_ttl_seconds: int = Field(default=600, ge=60)
    code_max_attempts: int = Field(default=5, ge=1, le=10)
    code_resend_seconds: int = Field(default=60, ge=0)
    code_max_sends: int = Field(default=5, ge=1)
    unverified_expiry_hours: int = Field(default=24, ge=1)
    sealed_email_keep_days: int = Field(default=30, ge=0)
    due_soon_days: int = Field(default=7, ge=1)

    def rules(self, server_key: bytes) -> RequestRules:
        return RequestRules(
            server_key=server_key,
            deadline_months=self.request_deadline_months,
            request_limit=self.request_limit,
            request_limit_period=timedelta(days=self.request_limit_days),
            retention_months=self.request_retention_months,
            code_ttl=timedelta(seconds=self.code_ttl_seconds),
            code_max_attempts=self.code_max_attempts,
            code_resend_cooldown=timedelta(seconds=self.code_resend_seconds),
            code_max_sends=self.code_max_sends,
            unverified_expiry=timedelta(hours=self.unverified_expiry_hours),
            sealed_email_keep=timedelta(days=self.sealed_email_keep_days),
            due_soon_before=timedelta(days=self.due_soon_days),
        )


def rules_from_environment() -> RequestRules:
    """The rules as the environment sets them, keyed with the backend's PSEUDONYM_KEY."""
    key = BackendSettings().pseudonym_key.get_secret_value()
    return PrivacyRequestSettings().rules(key)


class SmtpSettings(BaseSettings):
    """The mail server for one-time codes; with no SMTP_HOST, codes go to the console."""

    model_config = SettingsConfigDict(
        env_prefix="SMTP_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(default="privacy@localhost", validation_alias="SMTP_FROM")
    # starttls: upgrade on the submission port (587); tls: TLS from the start (465);
    # none: plain, for a relay on the same host or network only.
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout_seconds: float = Field(default=15.0, gt=0)
