"""How far each online-write spool has been applied: its exactly-once record.

Clicks, opens and unsubscribes (campaign), visitor-ID syncs and opt-outs (the
people service) that arrive while a bulk job holds the database are spooled and
applied later; the applier moves this mark in the same transaction as the events.

Revision ID: p0007
Revises: p0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0007"
down_revision = "p0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "people_spool_marks",
        sa.Column("spool_id", sa.String(36), primary_key=True),
        sa.Column("applied_through", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("people_spool_marks")
