"""The people-service connection, shares of campaign audiences, and what each has sent.

Revision ID: c0003
Revises: c0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the connection, share and export tables."""
    op.create_table(
        "people_connection",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("people_url", sa.Text, nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("org_id", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "shares",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("source_audience_id", ID, sa.ForeignKey("audiences.id"), nullable=False),
        sa.Column("segment_id", sa.Integer, nullable=False),
        sa.Column("trait_code", sa.String(255), nullable=False),
        sa.Column(
            "data_source_id",
            sa.String(32),
            sa.ForeignKey("shared_data_sources.id"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "share_exports",
        sa.Column("share_id", ID, sa.ForeignKey("shares.id"), primary_key=True),
        sa.Column("profile_id", ID, primary_key=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("share_exports")
    op.drop_table("shares")
    op.drop_table("people_connection")
