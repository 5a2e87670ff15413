"""The tracking log: clicks and opens, with the visitor ID seen.

Revision ID: c0005
Revises: c0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the tracking log."""
    op.create_table(
        "tracking_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("delivery_id", ID),
        sa.Column("profile_id", ID),
        sa.Column("link", sa.Integer),
        sa.Column("url", sa.Text),
        sa.Column("visitor_id", sa.String(64)),
        sa.Column("user_agent", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tracking_log_profile_id", "tracking_log", ["profile_id"])


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_tracking_log_profile_id", table_name="tracking_log")
    op.drop_table("tracking_log")
