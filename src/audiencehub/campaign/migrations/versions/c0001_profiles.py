"""Profiles, their reconciliation keys, and the hashing schemes keys are kept for.

Revision ID: c0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the profile store; keys start with the audience manager's default scheme."""
    op.create_table(
        "profiles",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("crm_id", sa.String(255), unique=True),
        sa.Column("email", sa.String(320)),
        sa.Column("email_key", sa.String(320), index=True),
        sa.Column("mobile_phone", sa.String(32)),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        sa.Column("country", sa.String(2)),
        sa.Column("birth_date", sa.Date),
        sa.Column("email_opt_out", sa.Boolean, nullable=False),
        sa.Column("sms_opt_out", sa.Boolean, nullable=False),
        sa.Column("blocklisted", sa.Boolean, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "profile_keys",
        sa.Column("scheme", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column(
            "profile_id",
            ID,
            sa.ForeignKey("profiles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sqlite_with_rowid=False,
    )
    schemes = op.create_table(
        "key_schemes",
        sa.Column("scheme", sa.String(16), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(schemes, [{"scheme": "aam", "added_at": datetime.now(UTC)}])


def downgrade() -> None:
    """Drop the profile store."""
    op.drop_table("key_schemes")
    op.drop_table("profile_keys")
    op.drop_table("profiles")
