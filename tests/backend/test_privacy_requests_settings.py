"""Settings of privacy requests: the console mail sink unless SMTP_HOST is set, and rules
from BACKEND_ variables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.privacy_requests import (
    ConsoleMailSender,
    PrivacyRequestSettings,
    SmtpMailSender,
    SmtpSettings,
    mail_sender_from_settings,
    rules_from_environment,
)


def test_codes_go_to_the_console_unless_an_smtp_host_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SMTP_HOST", raising=False)
    assert isinstance(mail_sender_from_settings(SmtpSettings()), ConsoleMailSender)
    monkeypatch.setenv("SMTP_HOST", "mail.shop.test")
    monkeypatch.setenv("SMTP_PORT", "465")
    monkeypatch.setenv("SMTP_SECURITY", "tls")
    monkeypatch.setenv("SMTP_FROM", "privacy@shop.test")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    settings = SmtpSettings()
    assert (settings.port, settings.security, settings.from_address) == (
        465,
        "tls",
        "privacy@shop.test",
    )
    assert "hunter2" not in repr(settings)
    sender = mail_sender_from_settings(settings)
    assert isinstance(sender, SmtpMailSender) and sender.from_address == "privacy@shop.test"


def test_rules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSEUDONYM_KEY", "p" * 40)
    monkeypatch.setenv("BACKEND_REQUEST_DEADLINE_MONTHS", "2")
    monkeypatch.setenv("BACKEND_REQUEST_LIMIT", "3")
    monkeypatch.setenv("BACKEND_REQUEST_RETENTION_MONTHS", "48")
    monkeypatch.setenv("BACKEND_CODE_RESEND_SECONDS", "30")
    rules = rules_from_environment()
    assert rules.server_key == b"p" * 40
    assert (rules.deadline_months, rules.request_limit, rules.retention_months) == (2, 3, 48)
    assert rules.code_resend_cooldown == timedelta(seconds=30)
    assert rules.code_ttl == timedelta(minutes=10) and rules.code_max_attempts == 5
    with pytest.raises(ValueError):
        PrivacyRequestSettings(code_max_attempts=0)
