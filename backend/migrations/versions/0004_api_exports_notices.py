"""The REST API's keys and idempotency records, access exports, notices to customers,
and what privacy requests keep for the shop and the reminders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_EVENT_TYPES = (
    "'privacy_request.created', 'privacy_request.verified', "
    "'privacy_request.due_soon', 'privacy_request.overdue', "
    "'privacy_request.completed', 'privacy_request.denied', 'marketing.unsubscribed'"
)
NEW_EVENT_TYPES = (
    "'privacy_request.created', 'privacy_request.verified', "
    "'privacy_request.due_soon', 'privacy_request.overdue', "
    "'privacy_request.completed', 'privacy_request.denied', "
    "'privacy_request.canceled', 'privacy_request.expired', "
    "'marketing.unsubscribed', 'conversation.handoff_requested'"
)


def _event_types(listed: str) -> None:
    with op.batch_alter_table("outbox_event") as batch:
        batch.drop_constraint(op.f("ck_outbox_event_type"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_event_type"), f"type IN ({listed})")


def upgrade() -> None:
    _event_types(NEW_EVENT_TYPES)
    with op.batch_alter_table("privacy_request") as batch:
        batch.add_column(
            sa.Column("verification", sa.String(length=8), nullable=False, server_default="email")
        )
        batch.add_column(sa.Column("email_sealed", sa.Text(), nullable=True))
        batch.add_column(sa.Column("notify_chat_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("outcomes", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("due_soon_notified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("overdue_notified_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("privacy_request") as batch:
        batch.alter_column("verification", server_default=None)

    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    op.create_index(op.f("ix_api_key_shop_id"), "api_key", ["shop_id"])
    op.create_table(
        "idempotency_record",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_index(op.f("ix_idempotency_record_created_at"), "idempotency_record", ["created_at"])
    op.create_table(
        "access_export",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_access_export_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_export")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_export_token_hash")),
    )
    op.create_index(op.f("ix_access_export_request_id"), "access_export", ["request_id"])
    op.create_table(
        "customer_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_customer_notice_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notice")),
    )
    op.create_index(op.f("ix_customer_notice_created_at"), "customer_notice", ["created_at"])
    op.create_index(
        op.f("ix_customer_notice_next_attempt_at"), "customer_notice", ["next_attempt_at"]
    )
    op.create_index(op.f("ix_customer_notice_request_id"), "customer_notice", ["request_id"])


def downgrade() -> None:
    op.drop_table("customer_notice")
    op.drop_table("access_export")
    op.drop_table("idempotency_record")
    op.drop_table("api_key")
    with op.batch_alter_table("privacy_request") as batch:
        for column in (
            "overdue_notified_at",
            "due_soon_notified_at",
            "outcomes",
            "language",
            "notify_chat_id",
            "email_sealed",
            "verification",
        ):
            batch.drop_column(column)
    _event_types(OLD_EVENT_TYPES)
