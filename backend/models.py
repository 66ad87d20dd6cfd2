"""The tables of the backend: who a customer is to the bot, and what they asked it.

A customer appears only under a pseudonym (see `backend.pseudonyms`), never by Telegram id.
"""

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, Dialect, String, Text, TypeDecorator
from sqlmodel import Field, SQLModel

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
