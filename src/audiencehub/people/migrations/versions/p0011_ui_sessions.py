"""Sessions of the people service's web pages, signed in with an API client's credentials.

Only the SHA-256 of the cookie is kept, with its client and expiry; revoking the
client ends its sessions.

Revision ID: p0011
Revises: p0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0011"
down_revision = "p0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the sessions."""
    op.create_table(
        "people_ui_sessions",
        sa.Column("session_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("people_api_clients.client_id"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("people_ui_sessions")
