"""Sessions of users signed in to the web UI.

A session is 32 random bytes kept by the browser in an HttpOnly cookie and
stored here as its SHA-256 with its expiry; signing out or disabling the user
ends it.

Revision ID: c0018
Revises: c0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0018"
down_revision = "c0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the sessions."""
    op.create_table(
        "campaign_user_sessions",
        sa.Column("session_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("campaign_users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("campaign_user_sessions")
