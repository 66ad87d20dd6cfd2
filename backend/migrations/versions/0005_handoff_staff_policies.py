"""Hand-off to shops' support groups (topics, relayed messages, the paced group outbox,
canned replies), staff roles, policy changes and their subscribers, request cards.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "canned_reply",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "key", "language", name=op.f("pk_canned_reply")),
    )
    op.create_table(
        "handoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("group_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("topic_id", sa.BigInteger(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=16), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_handoff_status")),
        sa.CheckConstraint(
            "trigger IN ('customer', 'bot', 'operator')", name=op.f("ck_handoff_trigger")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name=op.f("ck_handoff_rating")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff")),
    )
    op.create_index(
        op.f("ix_handoff_last_activity_at"), "handoff", ["last_activity_at"], unique=False
    )
    op.create_index(op.f("ix_handoff_pseudonym"), "handoff", ["pseudonym"], unique=False)
    op.create_index(op.f("ix_handoff_shop_id"), "handoff", ["shop_id"], unique=False)
    op.create_index(op.f("ix_handoff_status"), "handoff", ["status"], unique=False)
    op.create_table(
        "policy_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("document", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("index_version", sa.Integer(), nullable=False),
        sa.Column("previous_index_version", sa.Integer(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_change")),
    )
    op.create_index(
        op.f("ix_policy_change_created_at"), "policy_change", ["created_at"], unique=False
    )
    op.create_index(op.f("ix_policy_change_shop_id"), "policy_change", ["shop_id"], unique=False)
    op.create_table(
        "policy_subscription",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "pseudonym", name=op.f("pk_policy_subscription")),
    )
    op.create_table(
        "staff_member",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'operator')", name=op.f("ck_staff_member_role")),
        sa.PrimaryKeyConstraint("shop_id", "telegram_user_id", name=op.f("pk_staff_member")),
    )
    op.create_table(
        "support_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_outbox")),
    )
    op.create_index(
        op.f("ix_support_outbox_group_chat_id"), "support_outbox", ["group_chat_id"], unique=False
    )
    op.create_index(
        op.f("ix_support_outbox_handoff_id"), "support_outbox", ["handoff_id"], unique=False
    )
    op.create_index(
        op.f("ix_support_outbox_next_attempt_at"),
        "support_outbox",
        ["next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "support_topic",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("group_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "pseudonym", name=op.f("pk_support_topic")),
    )
    op.create_table(
        "relayed_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("customer_message_id", sa.BigInteger(), nullable=False),
        sa.Column("group_message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "direction IN ('to_group', 'to_customer')", name=op.f("ck_relayed_message_direction")
        ),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["handoff.id"],
            name=op.f("fk_relayed_message_handoff_id_handoff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relayed_message")),
        sa.UniqueConstraint(
            "handoff_id",
            "customer_message_id",
            "direction",
            name=op.f("uq_relayed_message_handoff_id"),
        ),
    )
    op.create_index(
        op.f("ix_relayed_message_group_message_id"),
        "relayed_message",
        ["group_message_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_relayed_message_handoff_id"), "relayed_message", ["handoff_id"], unique=False
    )
    op.create_table(
        "request_card",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("group_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_request_card_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_card")),
    )


def downgrade() -> None:
    op.drop_table("request_card")
    op.drop_table("relayed_message")
    op.drop_table("support_topic")
    op.drop_table("support_outbox")
    op.drop_table("staff_member")
    op.drop_table("policy_subscription")
    op.drop_table("policy_change")
    op.drop_table("handoff")
    op.drop_table("canned_reply")
