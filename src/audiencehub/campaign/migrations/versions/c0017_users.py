"""Users with roles, and their personal API tokens.

Passwords are stored as argon2 hashes and tokens as the SHA-256 of the token
(a token is 32 random bytes, so a fast digest is safe and lets a request find
its token by index); neither is ever stored or shown again.

Revision ID: c0017
Revises: c0016
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0017"
down_revision = "c0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the users and their tokens."""
    op.create_table(
        "campaign_users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "campaign_user_tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, sa.ForeignKey("campaign_users.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("campaign_user_tokens")
    op.drop_table("campaign_users")
