"""Named message templates (for triggered messages).

Revision ID: c0007
Revises: c0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the template table."""
    op.create_table(
        "message_templates",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("message_templates")
