"""Scheduled workflows (the Scheduler activity's cron).

Revision ID: c0008
Revises: c0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0008"
down_revision = "c0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the schedule table."""
    op.create_table(
        "workflow_schedules",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", ID),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("workflow_schedules")
