"""The tables of the backend: who a customer is to the bot, what they asked it, and the
privacy requests they made (with their audit trail, suppressions and one-time codes).

A customer appears only under a pseudonym (see `backend.pseudonyms`), never by Telegram id;
an e-mail address only as a keyed hash (see `backend.privacy_requests.hashing`).

All tables live in this one module because the migrations' env.py registers the tables by
importing it; the rules over the privacy-request tables live in `backend.privacy_requests`.
"""

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel, col

# Named constraints and indexes: SQLite migrations rebuild tables and need the names.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

QUESTION_MAX_CHARS = 1000
FEEDBACK_VALUES = ("helpful", "not_helpful")


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored and returned in UTC on every database.

    SQLite keeps no time zone, so what comes back is naive; this makes it aware again,
    and refuses a naive value on the way in rather than guess its zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime has no defined moment; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CustomerProfile(SQLModel, table=True):
    __tablename__ = "customer_profile"

    pseudonym: str = Field(primary_key=True, sa_type=String(64))
    shop_id: str | None = Field(default=None, sa_type=String(64))
    language: str | None = Field(default=None, sa_type=String(16))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class ConversationRecord(SQLModel, table=True):
    """One question the bot answered (or could not), and the customer's verdict on it."""

    __tablename__ = "conversation_record"
    __table_args__ = (
        CheckConstraint(
            "feedback IS NULL OR feedback IN ('helpful', 'not_helpful')", name="feedback"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    pseudonym: str = Field(index=True, sa_type=String(64))
    shop_id: str = Field(sa_type=String(64))
    question: str = Field(sa_type=Text)
    language: str = Field(sa_type=String(16))
    intent: str = Field(sa_type=String(32))
    passage_key: str | None = Field(default=None, sa_type=String(64))
    section: str | None = Field(default=None, sa_type=Text)
    confidence: float
    answered: bool
    index_version: int | None = None
    created_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    feedback: str | None = Field(default=None, sa_type=String(16))
    feedback_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


REQUEST_KINDS = ("unsubscribe", "access", "deletion")
REQUEST_STATUSES = (
    "identity_pending",
    "verified",
    "in_progress",
    "completed",
    "denied",
    "canceled",
    "expired",
)
DENIAL_REASONS = (
    "identity_not_verified",
    "no_customer_match",
    "legal_retention",
    "manifestly_excessive",
    "other",
)
ACTORS = ("customer", "shop", "operator", "system")
REQUEST_ID_MAX_CHARS = 32
HASH_CHARS = 64  # hex of HMAC-SHA256


def _one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IS NULL OR {column} IN ({listed})" if nullable else f"{column} IN ({listed})"


# The statuses in which a request's deadline runs (before them it is not yet verified;
# after them it is closed).
DEADLINE_RUNS_IN: Final = frozenset({"verified", "in_progress"})


class PrivacyRequest(SQLModel, table=True):
    """An unsubscribe, access or deletion request of one person to one shop."""

    __tablename__ = "privacy_request"
    __table_args__ = (
        CheckConstraint(_one_of("kind", REQUEST_KINDS), name="kind"),
        CheckConstraint(_one_of("status", REQUEST_STATUSES), name="status"),
        CheckConstraint(
            _one_of("denial_reason_code", DENIAL_REASONS, nullable=True), name="denial_reason_code"
        ),
    )

    id: str = Field(primary_key=True, sa_type=String(REQUEST_ID_MAX_CHARS))
    shop_id: str = Field(index=True, sa_type=String(64))
    kind: str = Field(sa_type=String(16))
    status: str = Field(index=True, sa_type=String(24))
    # None when the shop created the request on the customer's behalf.
    pseudonym: str | None = Field(default=None, index=True, sa_type=String(64))
    email_hash: str = Field(index=True, sa_type=String(HASH_CHARS))
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The months the shop had when the request was verified, and the further months it
    # took: the deadlines are recomputed from them, so that Jan 31 + 1 + 2 months is Apr 30.
    deadline_months: int | None = None
    extension_months: int = 0
    due_at: datetime | None = Field(default=None, index=True, sa_type=UTCDateTime)
    paused_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_seconds: int = 0
    extended_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    extension_reason: str | None = Field(default=None, sa_type=Text)
    denial_reason_code: str | None = Field(default=None, sa_type=String(32))
    denial_reason_text: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, index=True, sa_type=UTCDateTime)
    # "email": the customer proves the address with a one-time code; "shop": the shop's
    # backend confirms the customer through the API.
    verification: str = Field(default="email", sa_type=String(8))
    # The address itself, encrypted (see `backend.privacy_requests.sealing`): the shop
    # needs it to find the customer's data. Erased a short while after the request closes.
    email_sealed: str | None = Field(default=None, sa_type=Text)
    # The private chat that status changes are pushed to; erased when the request closes
    # and its last notice went out. None for a request the shop created.
    notify_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    # The language the customer wrote in when they started it: their notices speak it.
    language: str | None = Field(default=None, sa_type=String(16))
    # For a deletion: what each of the shop's systems did, as the shop reported it.
    outcomes: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    due_soon_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    overdue_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def deadline(self) -> datetime | None:
        """The deadline that counts now: the extended one, if the shop extended it."""
        return self.extended_until or self.due_at

    @classmethod
    def deadline_column(cls) -> ColumnElement[datetime]:
        """`deadline` in SQL, for queries."""
        return func.coalesce(col(cls.extended_until), col(cls.due_at))


class AuditEvent(SQLModel, table=True):
    """One change of a privacy request: who did what, when, and why (codes, never text
    the customer or the shop typed, so that the trail holds nothing personal)."""

    __tablename__ = "privacy_audit_event"
    __table_args__ = (CheckConstraint(_one_of("actor", ACTORS), name="actor"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(
        foreign_key="privacy_request.id",
        ondelete="CASCADE",
        index=True,
        sa_type=String(REQUEST_ID_MAX_CHARS),
    )
    at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    actor: str = Field(sa_type=String(16))
    action: str = Field(sa_type=String(32))
    from_status: str | None = Field(default=None, sa_type=String(24))
    to_status: str | None = Field(default=None, sa_type=String(24))
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class SuppressionEntry(SQLModel, table=True):
    """An objection to direct marketing that the shop must keep honouring."""

    __tablename__ = "suppression_entry"
    __table_args__ = (UniqueConstraint("shop_id", "email_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(sa_type=String(64))
    email_hash: str = Field(sa_type=String(HASH_CHARS))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class VerificationChallenge(SQLModel, table=True):
    """The one-time code last sent for a request awaiting verification (hashed)."""

    __tablename__ = "verification_challenge"

    request_id: str = Field(
        primary_key=True,
        foreign_key="privacy_request.id",
        ondelete="CASCADE",
        sa_type=String(REQUEST_ID_MAX_CHARS),
    )
    code_hash: str = Field(sa_type=String(HASH_CHARS))
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # Counted per request, across resends: a new code buys no new tries.
    attempts: int = 0
    sends: int = 0
    last_sent_at: datetime = Field(sa_type=UTCDateTime)
    locked: bool = False


WEBHOOK_EVENT_TYPES = (
    "privacy_request.created",
    "privacy_request.verified",
    "privacy_request.due_soon",
    "privacy_request.overdue",
    "privacy_request.completed",
    "privacy_request.denied",
    "privacy_request.canceled",
    "privacy_request.expired",
    "marketing.unsubscribed",
    "conversation.handoff_requested",
)
DELIVERY_STATUSES = ("pending", "delivered", "failed", "dead")
WEBHOOK_ID_MAX_CHARS = 40
SECRET_MAX_CHARS = 64  # "whsec_" + base64 of 32 bytes is 50


class WebhookEndpoint(SQLModel, table=True):
    """Where a shop's backend receives our events, and the secrets they are signed with.

    The secrets are kept as they are (not hashed): every delivery is signed with them.
    """

    __tablename__ = "webhook_endpoint"

    id: str = Field(primary_key=True, sa_type=String(WEBHOOK_ID_MAX_CHARS))
    shop_id: str = Field(index=True, sa_type=String(64))
    url: str = Field(sa_type=Text)
    # Event types, or ["*"] for all of them.
    events: list[str] = Field(default_factory=lambda: ["*"], sa_type=JSON)
    secret: str = Field(sa_type=String(SECRET_MAX_CHARS))
    # After a rotation the old secret signs too, until the shop has switched over.
    previous_secret: str | None = Field(default=None, sa_type=String(SECRET_MAX_CHARS))
    previous_valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, sa_type=String(64))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class OutboxEvent(SQLModel, table=True):
    """An event for a shop, written in the transaction of the change that caused it; its
    id is the `webhook-id` every delivery of it carries."""

    __tablename__ = "outbox_event"
    __table_args__ = (CheckConstraint(_one_of("type", WEBHOOK_EVENT_TYPES), name="type"),)

    id: str = Field(primary_key=True, sa_type=String(WEBHOOK_ID_MAX_CHARS))
    shop_id: str = Field(index=True, sa_type=String(64))
    type: str = Field(sa_type=String(40))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event on its way to one endpoint: its attempts so far and the next one."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        UniqueConstraint("event_id", "endpoint_id"),
    )

    id: str = Field(primary_key=True, sa_type=String(WEBHOOK_ID_MAX_CHARS))
    event_id: str = Field(
        foreign_key="outbox_event.id", ondelete="CASCADE", sa_type=String(WEBHOOK_ID_MAX_CHARS)
    )
    endpoint_id: str = Field(
        foreign_key="webhook_endpoint.id",
        ondelete="CASCADE",
        index=True,
        sa_type=String(WEBHOOK_ID_MAX_CHARS),
    )
    status: str = Field(default="pending", sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    first_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    # A code or an exception's class, never a response body: that could hold anything.
    last_error: str | None = Field(default=None, sa_type=String(200))
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_by: str | None = Field(default=None, sa_type=String(64))
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class InboundWebhookId(SQLModel, table=True):
    """A `webhook-id` of a signed call from a shop already accepted: a replay is refused.
    Kept only while its timestamp is within tolerance; older calls fail on time anyway."""

    __tablename__ = "inbound_webhook_id"

    webhook_id: str = Field(primary_key=True, sa_type=String(200))
    expires_at: datetime = Field(index=True, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A shop backend's key to the REST API; only its SHA-256 is kept (the key itself
    is random and long, so a plain hash cannot be reversed by guessing)."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, sa_type=String(WEBHOOK_ID_MAX_CHARS))
    shop_id: str = Field(index=True, sa_type=String(64))
    key_hash: str = Field(unique=True, sa_type=String(HASH_CHARS))
    label: str | None = Field(default=None, sa_type=String(200))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """The answer to a POST that carried an `Idempotency-Key`: a retry with the same key
    gets the same answer, and nothing is created twice. Kept for a day."""

    __tablename__ = "idempotency_record"

    shop_id: str = Field(primary_key=True, sa_type=String(64))
    key: str = Field(primary_key=True, sa_type=String(200))
    # SHA-256 of method, path and body: the same key with another call is refused.
    fingerprint: str = Field(sa_type=String(HASH_CHARS))
    status_code: int
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)


class AccessExport(SQLModel, table=True):
    """The copy of a customer's data a shop uploaded for an access request, until the
    customer has downloaded it (and a few days after) or its link expired."""

    __tablename__ = "access_export"

    id: str = Field(primary_key=True, sa_type=String(WEBHOOK_ID_MAX_CHARS))
    request_id: str = Field(
        foreign_key="privacy_request.id",
        ondelete="CASCADE",
        index=True,
        sa_type=String(REQUEST_ID_MAX_CHARS),
    )
    shop_id: str = Field(sa_type=String(64))
    filename: str = Field(sa_type=String(200))
    content_type: str = Field(sa_type=String(100))
    size: int
    sha256: str = Field(sa_type=String(HASH_CHARS))
    data: bytes = Field(sa_type=LargeBinary)
    # The one-time download link's token, hashed; None until the link is issued.
    token_hash: str | None = Field(default=None, unique=True, sa_type=String(HASH_CHARS))
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    downloaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class CustomerNotice(SQLModel, table=True):
    """A status change of a request still to be told to the customer in their chat,
    written in the transaction of the change; deleted once sent."""

    __tablename__ = "customer_notice"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(
        foreign_key="privacy_request.id",
        ondelete="CASCADE",
        index=True,
        sa_type=String(REQUEST_ID_MAX_CHARS),
    )
    chat_id: int = Field(sa_type=BigInteger)
    event: str = Field(sa_type=String(32))
    created_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)


# ---- Hand-off to the shop's support group, staff, and admin operations (issue 5) ----

HANDOFF_STATUSES = ("open", "closed")
HANDOFF_TRIGGERS = ("customer", "bot", "operator")
STAFF_ROLES = ("admin", "operator")


class SupportTopic(SQLModel, table=True):
    """The forum topic of one customer in a shop's support group: created once, reused by
    every later hand-off, re-created when Telegram says it is gone."""

    __tablename__ = "support_topic"

    shop_id: str = Field(primary_key=True, sa_type=String(64))
    pseudonym: str = Field(primary_key=True, sa_type=String(64))
    group_chat_id: int = Field(sa_type=BigInteger)
    topic_id: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Handoff(SQLModel, table=True):
    """A conversation handed to a human: open while operators talk to the customer."""

    __tablename__ = "handoff"
    __table_args__ = (
        CheckConstraint(_one_of("status", HANDOFF_STATUSES), name="status"),
        CheckConstraint(_one_of("trigger", HANDOFF_TRIGGERS), name="trigger"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True, sa_type=String(64))
    pseudonym: str = Field(index=True, sa_type=String(64))
    # The customer's private chat, to copy operators' replies into; kept while open.
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    language: str = Field(sa_type=String(16))
    status: str = Field(default="open", index=True, sa_type=String(8))
    trigger: str = Field(sa_type=String(16))
    group_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    topic_id: int | None = Field(default=None, sa_type=BigInteger)
    opened_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    last_activity_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, sa_type=String(16))
    rating: int | None = None
    rating_comment: str | None = Field(default=None, sa_type=Text)


class RelayedMessage(SQLModel, table=True):
    """A message copied between the customer's chat and the topic: the pair of ids lets an
    edit or a reply on one side be mirrored on the other."""

    __tablename__ = "relayed_message"
    __table_args__ = (
        UniqueConstraint("handoff_id", "customer_message_id", "direction"),
        CheckConstraint("direction IN ('to_group', 'to_customer')", name="direction"),
    )

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoff.id", ondelete="CASCADE", index=True)
    direction: str = Field(sa_type=String(16))
    customer_message_id: int = Field(sa_type=BigInteger)
    group_message_id: int = Field(index=True, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class SupportOutboxItem(SQLModel, table=True):
    """A Bot API call into a support group, queued: Telegram takes about 20 messages a
    minute into one group, and the relay paces them without ever dropping one."""

    __tablename__ = "support_outbox"

    id: int | None = Field(default=None, primary_key=True)
    group_chat_id: int = Field(index=True, sa_type=BigInteger)
    handoff_id: int | None = Field(default=None, index=True)
    method: str = Field(sa_type=String(40))
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    attempts: int = 0


class CannedReply(SQLModel, table=True):
    """A short text operators send by its key; `language` "" is the default version."""

    __tablename__ = "canned_reply"

    shop_id: str = Field(primary_key=True, sa_type=String(64))
    key: str = Field(primary_key=True, sa_type=String(64))
    language: str = Field(default="", primary_key=True, sa_type=String(16))
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class StaffMember(SQLModel, table=True):
    """A shop's admin or operator granted in the database (besides `shop.toml`'s admins)."""

    __tablename__ = "staff_member"
    __table_args__ = (CheckConstraint(_one_of("role", STAFF_ROLES), name="role"),)

    shop_id: str = Field(primary_key=True, sa_type=String(64))
    telegram_user_id: int = Field(primary_key=True, sa_type=BigInteger)
    role: str = Field(sa_type=String(16))
    granted_by: str | None = Field(default=None, sa_type=String(64))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PolicySubscription(SQLModel, table=True):
    """A customer who asked (`/notify`) to hear when the shop's policy changes."""

    __tablename__ = "policy_subscription"

    shop_id: str = Field(primary_key=True, sa_type=String(64))
    pseudonym: str = Field(primary_key=True, sa_type=String(64))
    chat_id: int = Field(sa_type=BigInteger)
    language: str | None = Field(default=None, sa_type=String(16))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PolicyChange(SQLModel, table=True):
    """A new policy version published (or a rollback): what changed, by whom, and the
    index versions before and after."""

    __tablename__ = "policy_change"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True, sa_type=String(64))
    action: str = Field(sa_type=String(16))  # "upload" or "rollback"
    document: str | None = Field(default=None, sa_type=String(200))
    language: str | None = Field(default=None, sa_type=String(16))
    index_version: int
    previous_index_version: int | None = None
    summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    actor: str = Field(sa_type=String(64))
    created_at: datetime = Field(default_factory=utc_now, index=True, sa_type=UTCDateTime)
    # When subscribers were told (None: not yet).
    announced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RequestCard(SQLModel, table=True):
    """The card of a privacy request in its shop's support group, to edit it as the
    request moves on."""

    __tablename__ = "request_card"

    request_id: str = Field(
        primary_key=True,
        foreign_key="privacy_request.id",
        ondelete="CASCADE",
        sa_type=String(REQUEST_ID_MAX_CHARS),
    )
    group_chat_id: int = Field(sa_type=BigInteger)
    message_id: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
