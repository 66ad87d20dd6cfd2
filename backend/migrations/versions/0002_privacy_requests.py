"""Privacy requests, their audit trail, marketing suppressions and one-time codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_request",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_months", sa.Integer(), nullable=True),
        sa.Column("extension_months", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("extended_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("denial_reason_code", sa.String(length=32), nullable=True),
        sa.Column("denial_reason_text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "denial_reason_code IS NULL OR denial_reason_code IN ('identity_not_verified', "
            "'no_customer_match', 'legal_retention', 'manifestly_excessive', 'other')",
            name=op.f("ck_privacy_request_denial_reason_code"),
        ),
        sa.CheckConstraint(
            "kind IN ('unsubscribe', 'access', 'deletion')", name=op.f("ck_privacy_request_kind")
        ),
        sa.CheckConstraint(
            "status IN ('identity_pending', 'verified', 'in_progress', 'completed', 'denied', "
            "'canceled', 'expired')",
            name=op.f("ck_privacy_request_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request")),
    )
    op.create_index(
        op.f("ix_privacy_request_closed_at"), "privacy_request", ["closed_at"], unique=False
    )
    op.create_index(
        op.f("ix_privacy_request_created_at"), "privacy_request", ["created_at"], unique=False
    )
    op.create_index(op.f("ix_privacy_request_due_at"), "privacy_request", ["due_at"], unique=False)
    op.create_index(
        op.f("ix_privacy_request_email_hash"), "privacy_request", ["email_hash"], unique=False
    )
    op.create_index(
        op.f("ix_privacy_request_pseudonym"), "privacy_request", ["pseudonym"], unique=False
    )
    op.create_index(
        op.f("ix_privacy_request_shop_id"), "privacy_request", ["shop_id"], unique=False
    )
    op.create_index(op.f("ix_privacy_request_status"), "privacy_request", ["status"], unique=False)
    op.create_table(
        "suppression_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_entry")),
        sa.UniqueConstraint("shop_id", "email_hash", name=op.f("uq_suppression_entry_shop_id")),
    )
    op.create_table(
        "privacy_audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "actor IN ('customer', 'shop', 'operator', 'system')",
            name=op.f("ck_privacy_audit_event_actor"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_privacy_audit_event_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_audit_event")),
    )
    op.create_index(op.f("ix_privacy_audit_event_at"), "privacy_audit_event", ["at"], unique=False)
    op.create_index(
        op.f("ix_privacy_audit_event_request_id"),
        "privacy_audit_event",
        ["request_id"],
        unique=False,
    )
    op.create_table(
        "verification_challenge",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_verification_challenge_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_verification_challenge")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; the referencing tables go first.
    op.drop_table("verification_challenge")
    op.drop_table("privacy_audit_event")
    op.drop_table("suppression_entry")
    op.drop_table("privacy_request")
