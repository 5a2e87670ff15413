"""A client's replaced secret, working for a while beside the new one.

Revision ID: p0015
Revises: p0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import UTCDateTime

revision = "p0015"
down_revision = "p0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the previous secret's digest and until when it works (none for every client)."""
    with op.batch_alter_table("people_api_clients") as table:
        table.add_column(sa.Column("previous_secret_sha256", sa.String(64), nullable=True))
        table.add_column(sa.Column("previous_secret_until", UTCDateTime, nullable=True))


def downgrade() -> None:
    """Drop them: only the current secrets work."""
    with op.batch_alter_table("people_api_clients") as table:
        table.drop_column("previous_secret_until")
        table.drop_column("previous_secret_sha256")
