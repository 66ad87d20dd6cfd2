"""Webhooks to shops' backends: the transactional outbox, Standard Webhooks signing, the
worker that delivers with retries, and verification of signed calls coming in from shops.
"""

from backend.webhooks.endpoints import create_endpoint, disable_endpoint, rotate_secret
from backend.webhooks.events import (
    ALL_EVENTS,
    EVENT_TYPES,
    HANDOFF_REQUESTED,
    MARKETING_UNSUBSCRIBED,
    REQUEST_CANCELED,
    REQUEST_COMPLETED,
    REQUEST_CREATED,
    REQUEST_DENIED,
    REQUEST_DUE_SOON,
    REQUEST_EXPIRED,
    REQUEST_OVERDUE,
    REQUEST_VERIFIED,
    record_event,
)
from backend.webhooks.inbound import (
    AuthenticCall,
    InboundWebhookRejectedError,
    authenticate_inbound,
    remember_call,
)
from backend.webhooks.settings import WebhookSettings
from backend.webhooks.signing import new_secret, signed_headers
from backend.webhooks.targets import TargetRefusedError, check_target
from backend.webhooks.worker import DeadDelivery, OutboxWorker

__all__ = [
    "ALL_EVENTS",
    "EVENT_TYPES",
    "HANDOFF_REQUESTED",
    "MARKETING_UNSUBSCRIBED",
    "REQUEST_CANCELED",
    "REQUEST_COMPLETED",
    "REQUEST_CREATED",
    "REQUEST_DENIED",
    "REQUEST_DUE_SOON",
    "REQUEST_EXPIRED",
    "REQUEST_OVERDUE",
    "REQUEST_VERIFIED",
    "AuthenticCall",
    "DeadDelivery",
    "InboundWebhookRejectedError",
    "OutboxWorker",
    "TargetRefusedError",
    "WebhookSettings",
    "authenticate_inbound",
    "check_target",
    "create_endpoint",
    "disable_endpoint",
    "new_secret",
    "record_event",
    "remember_call",
    "rotate_secret",
    "signed_headers",
]
