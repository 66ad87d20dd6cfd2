"""Customer profiles and the conversation log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_profile",
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym", name=op.f("pk_customer_profile")),
    )
    op.create_table(
        "conversation_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("passage_key", sa.String(length=64), nullable=True),
        sa.Column("section", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("index_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feedback", sa.String(length=16), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "feedback IS NULL OR feedback IN ('helpful', 'not_helpful')",
            name=op.f("ck_conversation_record_feedback"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_record")),
    )
    op.create_index(op.f("ix_conversation_record_pseudonym"), "conversation_record", ["pseudonym"])
    op.create_index(
        op.f("ix_conversation_record_created_at"), "conversation_record", ["created_at"]
    )


def downgrade() -> None:
    op.drop_table("conversation_record")
    op.drop_table("customer_profile")
