"""Deliveries as records: every message, click and open carries its delivery.

A delivery (a send to an audience, a workflow's delivery activity, or a trigger
template's messages) gets an id; messages point at it and tracking tokens carry
it, so rates per delivery and per link are exact. Messages logged before this
revision keep only the delivery's name.

Revision ID: c0013
Revises: c0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0013"
down_revision = "c0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the deliveries and point messages at them."""
    op.create_table(
        "deliveries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_deliveries_trigger",
        "deliveries",
        ["name"],
        unique=True,
        sqlite_where=sa.text("kind = 'trigger'"),
        postgresql_where=sa.text("kind = 'trigger'"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("delivery_id", ID, nullable=True))
        batch.create_foreign_key("fk_messages_delivery_id", "deliveries", ["delivery_id"], ["id"])
        batch.create_index("ix_messages_delivery_id", ["delivery_id"])


def downgrade() -> None:
    """Back to names only."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_delivery_id")
        batch.drop_constraint("fk_messages_delivery_id", type_="foreignkey")
        batch.drop_column("delivery_id")
    op.drop_index("ix_deliveries_trigger", table_name="deliveries")
    op.drop_table("deliveries")
