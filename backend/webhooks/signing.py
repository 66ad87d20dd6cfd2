"""Signing per the Standard Webhooks spec, with the `standardwebhooks` package."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from backend.models import WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret in the spec's format: `whsec_` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, and the previous one while a rotation's overlap lasts."""
    found = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_valid_until is not None
        and now < endpoint.previous_valid_until
    ):
        found.append(endpoint.previous_secret)
    return found


def signed_headers(
    secrets_in_use: list[str], webhook_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """The three headers of the spec; one `v1,<signature>` per secret, space-separated,
    so that a receiver holding either secret accepts the call."""
    signatures = " ".join(
        Webhook(secret).sign(webhook_id, timestamp, body) for secret in secrets_in_use
    )
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
