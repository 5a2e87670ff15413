"""The message log of deliveries and triggers, and trigger idempotency keys.

Revision ID: c0006
Revises: c0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the message log and the trigger events."""
    op.create_table(
        "messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("delivery", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("profile_id", ID),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_messages_profile_id", "messages", ["profile_id"])
    op.create_table(
        "trigger_events",
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("message_id", ID, sa.ForeignKey("messages.id")),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("trigger_events")
    op.drop_index("ix_messages_profile_id", table_name="messages")
    op.drop_table("messages")
